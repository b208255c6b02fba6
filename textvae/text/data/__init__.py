"""Sentences in: text files and datasets, labels, the built-in grammar corpus, tokenizers, batches."""
