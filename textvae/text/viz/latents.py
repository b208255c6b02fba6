"""The latent side of a text run's pictures: a seeded subset of validation sentences, the
grammar factors of each, their posteriors q(z | x), and the 2-D PCA of the posterior means.

Shapes: S = sentences, Z = latent size.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import InputError
from textvae.text.api import MAX_ENCODE_TOKENS, TextVAE
from textvae.text.data.grammar import parse
from textvae.text.run.config import Config
from textvae.text.run.corpus import load_sentences

# The factors of the built-in grammar corpus that a picture colours by, in panel order
# (GrammarSentence documents them); "length" is a count, the others are categories.
GRAMMAR_FACTORS = ("topic", "tense", "number", "mood", "negation", "length")


@dataclass
class Posteriors:
    """The posteriors of sentences, on the CPU in float32.

    Attributes:
        sentences: the S sentences encoded (those with at least one known token).
        mu: (S, Z) posterior means.
        logvar: (S, Z) posterior log-variances.
    """

    sentences: list[str]
    mu: Tensor
    logvar: Tensor


def validation_subset(config: Config, n: int, seed: int) -> list[str]:
    """At most ``n`` sentences of the run's validation split, a random subset drawn with
    ``seed`` (in the split's order), so that the same seed pictures the same sentences."""
    if n < 1:
        raise InputError(f"the number of sentences must be >= 1, got {n}")
    sentences = load_sentences(config.data, "valid").sentences
    if len(sentences) > n:
        keep = sorted(random.Random(seed).sample(range(len(sentences)), n))
        sentences = [sentences[i] for i in keep]
    return sentences


def grammar_labels(sentences: Sequence[str]) -> dict[str, list[Any]]:
    """The grammar factors of each sentence, read back by the grammar's recognizer.

    Returns:
        Per factor of :data:`GRAMMAR_FACTORS`, one value per sentence (``topic``: a topic name,
        ``tense``: "past"/"present", ``number``: "singular"/"plural", ``mood``:
        "statement"/"question", ``negation``: bool, ``length``: tokens), None for a sentence
        the grammar cannot produce.
    """
    parsed = [parse(sentence) for sentence in sentences]
    return {factor: [None if p is None else p[factor] for p in parsed] for factor in GRAMMAR_FACTORS}


def corpus_labels(config: Config, sentences: Sequence[str]) -> dict[str, list[Any]] | None:
    """The labels to colour pictures by: the grammar factors for the built-in grammar corpus,
    None for corpora without labels."""
    return grammar_labels(sentences) if config.data.source == "grammar" else None


def encode_sentences(tv: TextVAE, sentences: Sequence[str]) -> Posteriors:
    """Posterior parameters of each sentence that has a meaningful encoding.

    Sentences the façade would refuse (empty, every token unknown, longer than
    ``MAX_ENCODE_TOKENS``) are left out rather than failing the whole picture: a validation
    split of a text corpus may hold words the vocabulary dropped.
    """
    tok = tv.tokenizer
    kept, ids = [], []
    for sentence in sentences:
        row = tok.encode(sentence) if sentence.strip() else []
        if row and len(row) <= MAX_ENCODE_TOKENS and any(t != tok.unk_id for t in row):
            kept.append(sentence)
            ids.append(row)
    mu, logvar = tv.encode_ids(ids)  # (S, Z) each
    return Posteriors(kept, mu.float().cpu(), logvar.float().cpu())


def pca_2d(points: Tensor) -> tuple[Tensor, Tensor]:
    """Project points on their first two principal axes (an exact SVD of the centred points).

    Each axis's sign is fixed so that its largest loading is positive, so the picture does not
    flip between runs of the same model.

    Args:
        points: (S, Z) with S >= 2.

    Returns:
        ``(projected (S, 2), explained (2,))``: the coordinates, and the fraction of the total
        variance along each axis (0 for an axis that does not exist, as when Z = 1).
    """
    if points.dim() != 2 or points.shape[0] < 2:
        raise InputError(f"PCA needs at least 2 points in rows, got shape {tuple(points.shape)}")
    centred = points.double() - points.double().mean(0)  # (S, Z)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: (min(S, Z), Z)
    axes = vh[:2]  # (A, Z), A <= 2
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))  # (A, 1)
    axes = axes * torch.where(signs == 0, 1.0, signs)
    projected = torch.zeros(points.shape[0], 2, dtype=torch.float64)
    projected[:, : axes.shape[0]] = centred @ axes.T
    variance = singular.pow(2)
    explained = torch.zeros(2, dtype=torch.float64)
    if variance.sum() > 0:
        explained[: axes.shape[0]] = variance[:2] / variance.sum()
    return projected.float(), explained.float()
