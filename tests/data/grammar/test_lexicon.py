"""Tests for the grammar's lexicon (textvae/data/grammar/lexicon.py)."""

from textvae.data.grammar import LEXICON


def test_topics_are_lexically_disjoint():
    words = [lex.content_words() for lex in LEXICON.values()]
    assert sum(len(w) for w in words) == len(frozenset().union(*words))
