"""Sampling the grammar corpus: sentences with their labels, train/valid/test splits, files.

Everything here is deterministic in the seed: one private ``random.Random`` draws the factors
of a sentence (its template) and then walks that template, so the same ``(n, seed)`` always
gives the same sentences, and a shorter run is a prefix of a longer one.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from textvae.data.grammar.lexicon import MOODS, NUMBERS, TENSES, TOPICS
from textvae.data.grammar.templates import Key, Words, template_trees
from textvae.errors import DataError
from textvae.files import write_text

# Factor probabilities (tense, number and topic are uniform). They balance the labels; like
# the template probabilities they do not change the language.
P_QUESTION = 0.3
P_NEGATION = 0.3


@dataclass(frozen=True)
class GrammarSentence:
    """One generated sentence and its factors.

    Attributes:
        text: lowercase tokens separated by single spaces, ending in "." or "?".
        labels: ``topic`` (str), ``tense`` ("past"/"present"), ``number`` (of the subject:
            "singular"/"plural"), ``mood`` ("statement"/"question"), ``negation`` (bool),
            ``length`` (token count).
    """

    text: str
    labels: dict[str, Any]


class Derivation(NamedTuple):
    """A sentence with, per token, the terminal node that produced it.

    The nodes say which positions are optional, which agree in number and which content slot a
    word fills: what the tests need to corrupt a sentence on purpose.
    """

    key: Key
    words: list[str]
    nodes: list[Words]


def _sample_key(rng: random.Random) -> Key:
    # The order of the draws is part of the corpus: changing it changes every sentence.
    return Key(
        topic=TOPICS[int(rng.random() * len(TOPICS))],
        tense=TENSES[rng.random() < 0.5],
        number=NUMBERS[rng.random() < 0.5],
        mood=MOODS[rng.random() < P_QUESTION],
        negation=rng.random() < P_NEGATION,
    )


def derive(n: int, seed: int) -> Iterator[Derivation]:
    """Sample ``n`` derivations, deterministically in ``seed`` (see :func:`generate`)."""
    rng = random.Random(seed)
    templates = template_trees()
    for _ in range(n):
        key = _sample_key(rng)
        words: list[str] = []
        nodes: list[Words] = []
        templates[key].sample(rng, words, nodes)
        yield Derivation(key, words, nodes)


def generate(n: int, seed: int) -> list[GrammarSentence]:
    """Sample ``n`` sentences from the grammar, deterministically.

    Args:
        n: number of sentences (>= 0).
        seed: seed for a private ``random.Random``; the same seed gives the same list.

    Returns:
        The sentences with their labels.

    Raises:
        DataError: if ``n`` is negative.
    """
    if n < 0:
        raise DataError(f"the number of grammar sentences must be >= 0, got {n}")
    return [GrammarSentence(" ".join(d.words), d.key.labels(len(d.words))) for d in derive(n, seed)]


def _split_sizes(n: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    if n < 0:
        raise DataError(f"the number of grammar sentences must be >= 0, got {n}")
    if not (
        0.0 <= valid_fraction and 0.0 <= test_fraction and valid_fraction + test_fraction < 1.0
    ):
        raise DataError(
            "valid and test fractions must be >= 0 and sum to less than 1, got "
            f"{valid_fraction} and {test_fraction}"
        )
    n_valid = round(n * valid_fraction)
    n_test = round(n * test_fraction)
    return {"train": n - n_valid - n_test, "valid": n_valid, "test": n_test}


def grammar_splits(
    n: int, seed: int, valid_fraction: float = 0.05, test_fraction: float = 0.05
) -> dict[str, list[GrammarSentence]]:
    """Generate ``n`` sentences and split them into train, valid and test, deterministically.

    Sentences are i.i.d., so the split is by position: the first ones are train, then valid,
    then test. Short sentences can therefore occur in more than one split, as they would in
    natural text.

    Args:
        n: total number of sentences.
        seed: generation seed.
        valid_fraction: share of ``n`` for "valid" (rounded).
        test_fraction: share of ``n`` for "test" (rounded).

    Returns:
        {"train": [...], "valid": [...], "test": [...]}, sizes summing to ``n``.

    Raises:
        DataError: if ``n`` is negative or the fractions are out of range.
    """
    sizes = _split_sizes(n, valid_fraction, test_fraction)
    sentences = generate(n, seed)
    a = sizes["train"]
    b = a + sizes["valid"]
    return {"train": sentences[:a], "valid": sentences[a:b], "test": sentences[b:]}


def _lines(records: Iterable[str]) -> str:
    # Every line ends in "\n", the last one too; an empty split is an empty file.
    return "".join(f"{record}\n" for record in records)


def write_corpus(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> dict[str, int]:
    """Write the grammar corpus as text and label files.

    Writes ``{split}.txt`` (one sentence per line) and ``{split}.labels.jsonl`` (one JSON object
    per line: "text" and the labels) for train, valid and test, UTF-8, each file atomically
    (:mod:`textvae.files`): a reader, or a run stopped midway, sees each file old or new, whole.

    Args:
        out_dir: directory to write into; created if missing.
        n: total number of sentences.
        seed: generation seed.
        valid_fraction: share of ``n`` for "valid".
        test_fraction: share of ``n`` for "test".

    Returns:
        Number of sentences per split.

    Raises:
        DataError: if ``n`` or the fractions are out of range.
        FileWriteError: a file could not be written (the previous one is left as it was).
    """
    splits = grammar_splits(n, seed, valid_fraction, test_fraction)
    out = Path(out_dir)
    for split, sentences in splits.items():
        # Each file is built in memory first: the corpus is small (a few MB at most), and a
        # whole text is what the atomic writer takes.
        write_text(out / f"{split}.txt", _lines(s.text for s in sentences), make_parents=True)
        write_text(
            out / f"{split}.labels.jsonl",
            _lines(json.dumps({"text": s.text, **s.labels}) for s in sentences),
            make_parents=True,
        )
    return {split: len(sentences) for split, sentences in splits.items()}
