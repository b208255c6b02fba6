"""Sentence models: RNN state, the sentence VAE and LM, the labelled models, their Protocols, p(y|x)."""
