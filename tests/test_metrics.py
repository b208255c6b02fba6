"""Metrics on cases with known answers."""

import math

import pytest
import torch

from textvae.metrics import active_units, perplexity


def test_active_units_on_constructed_posterior_means():
    g = torch.Generator().manual_seed(0)
    n = 2001
    stds = torch.tensor([0.3, 0.05, 0.0, 1.0, 0.08, 0.12, 0.02])  # variances around 0.01
    mu = torch.randn(n, 7, generator=g) * stds + torch.arange(7.0)  # offsets do not count
    # Active: variance 0.09, 1.0, 0.0144 > 0.01; inactive: 0.0025, 0, 0.0064, 0.0004.
    assert active_units(mu) == 3
    assert active_units(mu, threshold=0.001) == 5
    assert active_units(mu[:1]) == 0  # one sentence has no spread


def test_perplexity_is_per_target_token():
    assert perplexity(0.0, 11) == 1.0
    assert perplexity(13 * math.log(37), 13) == pytest.approx(37.0)
