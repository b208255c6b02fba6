"""Corpora and tokenizers shared by the tokenizer tests, built once for the package."""

import random

import pytest

from textvae.text.data.tokenizers import SentencePieceTokenizer, WordTokenizer


def _synthetic_corpus(n_sentences: int, n_words: int, seed: int) -> list[str]:
    """Sentences of 3..17 pseudo-words over a lower-case ASCII alphabet (already NFKC-normal)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({"".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(n_words)})
    return [" ".join(rng.choices(words, k=rng.randint(3, 17))) for _ in range(n_sentences)]


# Package scope: training SentencePiece is the slow part, and every test module uses the models.
@pytest.fixture(scope="package")
def corpus() -> list[str]:
    return _synthetic_corpus(2003, 301, seed=0)


@pytest.fixture(scope="package")
def spm_unigram(corpus) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.build(corpus[:1801], vocab_size=251, model_type="unigram")


@pytest.fixture(scope="package")
def spm_bpe(corpus) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.build(corpus[:1801], vocab_size=199, model_type="bpe")


@pytest.fixture(scope="package")
def word_tok(corpus) -> WordTokenizer:
    return WordTokenizer.build(corpus[:1801])
