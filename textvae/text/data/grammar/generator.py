"""Sampling the grammar corpus: sentences with their labels, train/valid/test splits, files.

Everything here is deterministic in the seed: one private ``random.Random`` draws the factors
of a sentence (its template) and then walks that template, so the same ``(n, seed)`` always
gives the same sentences, and a shorter run is a prefix of a longer one.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from textvae.core.errors import DataError
from textvae.core.files import write_text
from textvae.text.data.grammar.lexicon import MOODS, NUMBERS, TENSES, TOPICS
from textvae.text.data.grammar.templates import Key, Words, template_trees

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


def _sizes(n: int, valid_fraction: float, test_fraction: float) -> dict[str, int]:
    n_valid = round(n * valid_fraction)
    n_test = round(n * test_fraction)
    return {"train": n - n_valid - n_test, "valid": n_valid, "test": n_test}


def _too_small(sizes: dict[str, int], valid_fraction: float, test_fraction: float) -> bool:
    """A split left empty that should hold sentences (a fraction of 0 asks for an empty one)."""
    wanted = {"train": 1.0, "valid": valid_fraction, "test": test_fraction}
    return any(sizes[split] == 0 and wanted[split] > 0 for split in sizes)


def smallest_corpus(valid_fraction: float = 0.05, test_fraction: float = 0.05) -> int:
    """The fewest sentences that give every split with a positive fraction one sentence."""
    n = 1
    for fraction in (valid_fraction, test_fraction):
        if fraction > 0:  # round(n * f) >= 1 needs n * f > 0.5 (round() takes 0.5 to 0)
            n = max(n, math.floor(0.5 / fraction) + 1)
    while _too_small(_sizes(n, valid_fraction, test_fraction), valid_fraction, test_fraction):
        n += 1
    return n


def _split_sizes(n: int, valid_fraction: float, test_fraction: float, size_name: str | None = None
                 ) -> dict[str, int]:
    if n < 0:
        raise DataError(f"the number of grammar sentences must be >= 0, got {n}")
    if not (
        0.0 <= valid_fraction and 0.0 <= test_fraction and valid_fraction + test_fraction < 1.0
    ):
        raise DataError(
            "valid and test fractions must be >= 0 and sum to less than 1, got "
            f"{valid_fraction} and {test_fraction}"
        )
    sizes = _sizes(n, valid_fraction, test_fraction)
    if _too_small(sizes, valid_fraction, test_fraction):
        least = smallest_corpus(valid_fraction, test_fraction)
        join = " " if size_name and size_name.startswith("-") else "="
        given, ask = ((f"{size_name}{join}{n}", f"{size_name}{join}{least}") if size_name
                      else (f"a grammar corpus of {n} sentences", f"{least} sentences"))
        counts = ", ".join(f"{split} {count}" for split, count in sizes.items())
        shares = f"valid {_percent(valid_fraction)}, test {_percent(test_fraction)}"
        raise DataError(f"{given} is too small to split: {counts} ({shares}); "
                        f"every split needs a sentence, so give {ask} or more")
    return sizes


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 4):g}%"


def grammar_splits(
    n: int, seed: int, valid_fraction: float = 0.05, test_fraction: float = 0.05, *,
    size_name: str | None = None,
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
        size_name: what the user set ``n`` with (``--n``, ``data.grammar_size``), for the error
            when ``n`` is too small.

    Returns:
        {"train": [...], "valid": [...], "test": [...]}, sizes summing to ``n``.

    Raises:
        DataError: if ``n`` is negative, the fractions are out of range, or ``n`` is too small
            to give every split a sentence (a split whose fraction is 0 stays empty): ``--n 5
            is too small to split: train 5, valid 0, test 0 (...); ... give --n 11 or more``.
    """
    sizes = _split_sizes(n, valid_fraction, test_fraction, size_name)
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
    *,
    size_name: str | None = None,
) -> dict[str, int]:
    """Write the grammar corpus as text and label files.

    Writes ``{split}.txt`` (one sentence per line) and ``{split}.labels.jsonl`` (one JSON object
    per line: "text" and the labels) for train, valid and test, UTF-8, each file atomically
    (:mod:`textvae.core.files`): a reader, or a run stopped midway, sees each file old or new, whole.

    Args:
        out_dir: directory to write into; created if missing.
        n: total number of sentences.
        seed: generation seed.
        valid_fraction: share of ``n`` for "valid".
        test_fraction: share of ``n`` for "test".
        size_name: as for :func:`grammar_splits`.

    Returns:
        Number of sentences per split.

    Raises:
        DataError: if ``n`` or the fractions are out of range, or ``n`` is too small to give
            every split a sentence (checked before anything is written).
        FileWriteError: a file could not be written (the previous one is left as it was).
    """
    splits = grammar_splits(n, seed, valid_fraction, test_fraction, size_name=size_name)
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
