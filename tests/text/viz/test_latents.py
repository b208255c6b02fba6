"""textvae.text.viz.latents: the validation subset, its grammar labels and the PCA."""

import math

import pytest
import torch

from textvae.core.errors import InputError
from textvae.text.data.grammar import generate
from textvae.text.run.config import load_config
from textvae.text.viz.latents import (
    GRAMMAR_FACTORS,
    corpus_labels,
    grammar_labels,
    pca_2d,
    validation_subset,
)


def test_grammar_labels_are_the_generating_factors():
    known = generate(11, seed=3)
    labels = grammar_labels([s.text for s in known] + ["not a grammar sentence at all"])
    assert set(labels) == set(GRAMMAR_FACTORS)
    for factor in GRAMMAR_FACTORS:
        assert labels[factor] == [s.labels[factor] for s in known] + [None]


def test_grammar_labels_of_hand_written_sentences():
    labels = grammar_labels(["the fans ran .", "did the bears not growl ?"])
    assert labels["topic"] == ["sports", "animals"]
    assert labels["tense"] == ["past", "past"]
    assert labels["number"] == ["plural", "plural"]
    assert labels["mood"] == ["statement", "question"]
    assert labels["negation"] == [False, True]
    assert labels["length"] == [4, 6]


def test_only_the_grammar_corpus_has_labels(tmp_path):
    grammar = load_config(None, ["data.source=grammar"])
    text = load_config(None, ["data.source=text", f"data.train_path={tmp_path / 'x.txt'}"])
    assert corpus_labels(grammar, ["the fans ran ."])["topic"] == ["sports"]
    assert corpus_labels(text, ["the fans ran ."]) is None


def test_validation_subset_is_seeded_and_in_split_order():
    cfg = load_config(None, ["data.source=grammar", "data.grammar_size=500"])
    whole = validation_subset(cfg, 10_000, seed=0)
    assert len(whole) == 25
    a = validation_subset(cfg, 13, seed=5)
    assert a == validation_subset(cfg, 13, seed=5) and len(a) == 13
    assert a != validation_subset(cfg, 13, seed=6)
    assert [whole.index(s) for s in a] == sorted(whole.index(s) for s in a)
    with pytest.raises(InputError):
        validation_subset(cfg, 0, seed=0)


def test_pca_recovers_a_known_plane():
    # 29 points in 5-D lying in the plane spanned by two orthonormal directions, with variance
    # 9 along the first and 1 along the second.
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator, dtype=torch.float64))
    u, v = basis[:, 0], basis[:, 1]
    a = torch.randn(29, generator=generator, dtype=torch.float64)
    b = torch.randn(29, generator=generator, dtype=torch.float64)
    a, b = (a - a.mean()) / a.std() * 3, (b - b.mean()) / b.std()
    b = b - (a @ b) / (a @ a) * a  # uncorrelated with a
    b = b / b.std()
    points = (a[:, None] * u + b[:, None] * v + 2.0).float()  # (29, 5), shifted
    projected, explained = pca_2d(points)
    assert projected.shape == (29, 2) and explained.shape == (2,)
    assert explained.tolist() == pytest.approx([0.9, 0.1], abs=1e-5)
    assert projected[:, 0].abs().tolist() == pytest.approx(a.abs().tolist(), abs=1e-4)
    assert projected[:, 1].abs().tolist() == pytest.approx(b.abs().tolist(), abs=1e-4)
    # The signs are fixed: the same points give the same picture, flipped input or not.
    again, _ = pca_2d(points.clone())
    assert torch.equal(projected, again)


def test_pca_of_a_one_dimensional_latent():
    projected, explained = pca_2d(torch.tensor([[1.0], [3.0], [5.0]]))
    assert projected[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert explained.tolist() == [1.0, 0.0]
    assert math.isclose(projected[:, 0].abs().max().item(), 2.0, rel_tol=1e-6)
    with pytest.raises(InputError, match="at least 2 points"):
        pca_2d(torch.zeros(1, 7))
