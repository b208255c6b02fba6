"""What a text run is built from: its config, tokenized corpus, decoding options and checkpoints."""
