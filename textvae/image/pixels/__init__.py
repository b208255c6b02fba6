"""Making and saving images: procedural sprites and PNG pictures."""
