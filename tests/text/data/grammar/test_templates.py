"""Tests for the grammar's template trees (textvae/text/data/grammar/templates.py)."""

from collections import Counter

from textvae.text.data.grammar import TOPICS, vocabulary

from .helpers import big_sample


def test_vocabulary_is_exactly_what_the_generator_emits():
    vocab = vocabulary()
    counts = Counter(tok for s in big_sample() for tok in s.text.split(" "))
    assert set(counts) == vocab  # nothing outside, and no dead lexicon entries
    assert len(vocab) >= 300
    assert len(TOPICS) >= 3
