"""Sentence models: RNN state, the encoder and decoder parts (RNN, transformer) and their registry,
the sentence VAE and LM, the labelled models, their Protocols, p(y|x)."""
