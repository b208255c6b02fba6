"""Tests for the grammar's lexicon (textvae/text/data/grammar/lexicon.py)."""

from textvae.text.data.grammar import LEXICON


def test_topics_are_lexically_disjoint():
    words = [lex.content_words() for lex in LEXICON.values()]
    assert sum(len(w) for w in words) == len(frozenset().union(*words))
