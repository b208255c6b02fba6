"""Samples shared by the grammar tests, generated once per test run."""

from functools import cache

from textvae.text.data.grammar import LEXICON, generate


@cache
def big_sample() -> tuple:
    return tuple(generate(100_001, seed=3))


@cache
def noun_numbers() -> dict[str, str]:
    """noun form -> "singular"/"plural", built straight from the lexicon tables."""
    table = {}
    for lex in LEXICON.values():
        for singular, plural in lex.nouns:
            table[singular] = "singular"
            table[plural] = "plural"
    return table
