"""The evaluation defaults shared by the library and the command line. Torch-free, so that
``textvae evaluate --help`` can show them without loading torch."""

DEFAULT_IW_SAMPLES = 500  # importance samples K per sentence (He et al. 2019 use 500)
DEFAULT_MEMORY_MB = 256  # budget for one decoder chunk's logits and their log-softmax
REVERSE_PPL_STEPS = 300  # optimiser steps of each reverse-perplexity LM (30-40 s on the grammar corpus)
SHORT_SENTENCE_TOKENS = 10  # exact match is also reported on sentences of at most this many tokens
