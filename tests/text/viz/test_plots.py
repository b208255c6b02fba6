"""textvae.text.viz.plots: the figures of a text run, on metrics and posteriors with known answers."""

import json

import pytest
import torch

from textvae.core.metrics import ACTIVE_UNIT_THRESHOLD
from textvae.text.viz.plots import (
    LM_CURVES,
    VAE_CURVES,
    kl_and_weight,
    kl_per_dimension,
    plot_kl_per_dim,
    plot_kl_vs_weight,
    plot_latent_pca,
    plot_loss_curves,
)

from .helpers import png_size

ROWS = [
    {"split": "train", "step": 3, "epoch": 0, "loss": 9.0, "neg_elbo": 11.0,
     "reconstruction": 8.5, "kl": 2.5, "kl_weight": 0.2},
    {"split": "train", "step": 6, "epoch": 0, "loss": 7.0, "neg_elbo": 9.0,
     "reconstruction": 6.0, "kl": 3.0, "kl_weight": 0.5},
    {"split": "valid", "step": 5, "epoch": 0, "neg_elbo": 10.0, "reconstruction": 8.75,
     "kl": 1.25, "ppl_bound": 31.0, "active_units": 3},
    {"split": "train", "step": 1, "epoch": 0, "loss": 12.0, "neg_elbo": 13.0,
     "reconstruction": 12.0, "kl": 1.0, "kl_weight": 0.0},
]


def write_metrics(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_kl_against_weight_uses_the_logged_columns():
    series = kl_and_weight(ROWS)
    assert series == {
        "step": [1.0, 3.0, 6.0], "kl": [1.0, 2.5, 3.0], "kl_weight": [0.0, 0.2, 0.5],
        "valid_step": [5.0], "valid_kl": [1.25],
    }


def test_kl_against_weight_needs_both_columns():
    lm_rows = [{"split": "train", "step": 3, "loss": 9.0, "reconstruction": 9.0}]
    with pytest.raises(ValueError, match="kl_weight"):
        kl_and_weight(lm_rows)


def test_curve_pictures_are_valid_pngs(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", ROWS)
    kl_png = plot_kl_vs_weight(metrics, tmp_path / "out" / "kl.png")
    curves = plot_loss_curves(metrics, tmp_path / "curves.png", VAE_CURVES["curves"])
    terms = plot_loss_curves(metrics, tmp_path / "terms.png", VAE_CURVES["terms"])
    lm_curves = plot_loss_curves(metrics, tmp_path / "lm.png", LM_CURVES["curves"])
    one = plot_loss_curves(metrics, tmp_path / "one.png", ("kl", "not_logged"))
    for path in (kl_png, curves, terms, lm_curves, one):
        png_size(path)
    # One panel per logged key: two to a picture, one where only one key was logged.
    assert png_size(curves) == png_size(terms) == png_size(lm_curves)
    assert png_size(curves)[0] == 2 * png_size(one)[0]


def test_loss_curves_need_a_logged_term(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", [{"split": "train", "step": 1, "lr": 0.1}])
    with pytest.raises(ValueError, match="logs none of"):
        plot_loss_curves(metrics, tmp_path / "curves.png", VAE_CURVES["curves"])


def test_kl_per_dimension_known_answer(tmp_path):
    # 5 sentences, 7 dimensions: dimension 2 carries the sentence (mean varies, KL > 0);
    # dimension 4 has a narrow posterior but a constant mean (KL > 0, inactive); the rest sit
    # on the prior (KL 0).
    mu = torch.zeros(5, 7)
    mu[:, 2] = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    logvar = torch.zeros(5, 7)
    logvar[:, 4] = -3.0
    stats = kl_per_dimension(mu, logvar)
    expected_kl_2 = 0.5 * (mu[:, 2] ** 2).mean().item()  # 0.5 * E[mu^2] = 1.0
    expected_kl_4 = 0.5 * (torch.exp(torch.tensor(-3.0)) - 1 + 3).item()
    assert stats["kl"][2].item() == pytest.approx(expected_kl_2)
    assert stats["kl"][4].item() == pytest.approx(expected_kl_4)
    assert stats["kl"][[0, 1, 3, 5, 6]].abs().max().item() == 0.0
    assert stats["order"][:2].tolist() == [4, 2]  # 1.03 nats, then 1.0
    assert stats["active"].tolist() == [False, False, True, False, False, False, False]
    assert stats["active_units"] == 1
    assert stats["mean_variance"][2].item() == pytest.approx(2.5)
    assert stats["mean_variance"][4].item() == 0.0 < ACTIVE_UNIT_THRESHOLD
    png_size(plot_kl_per_dim(mu, logvar, tmp_path / "kl_per_dim.png"))


def test_latent_pca_panels(tmp_path):
    points = torch.randn(13, 2, generator=torch.Generator().manual_seed(1))
    explained = torch.tensor([0.6, 0.3])
    labels = {"topic": ["animals", "music", None] * 4 + ["sports"],
              "negation": [True, False] * 6 + [False],
              "length": list(range(3, 16))}
    three = png_size(plot_latent_pca(points, explained, tmp_path / "labelled.png", labels))
    one = png_size(plot_latent_pca(points, explained, tmp_path / "plain.png"))
    assert three[0] > 2 * one[0]  # three panels side by side against one
    with pytest.raises(ValueError, match="12 topic labels for 13 points"):
        plot_latent_pca(points, explained, tmp_path / "bad.png", {"topic": ["x"] * 12})
