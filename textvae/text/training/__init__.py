"""Training sentence VAEs: the text trainers, validation and the collapse remedies."""
