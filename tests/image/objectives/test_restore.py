import math

import pytest
import torch

from textvae.image.objectives.restore import (
    bicubic_upsample,
    mean_psnr,
    median_filter3x3,
    psnr_per_image,
    restoration_metrics,
)
from textvae.image.run.degrade import Degraded, degrade_fixed


def test_psnr_per_image_against_hand_values():
    clean = torch.zeros(2, 1, 3, 5)
    estimate = torch.stack([torch.full((1, 3, 5), 0.1), torch.full((1, 3, 5), 0.01)])
    # MSE 0.01 -> 20 dB, MSE 1e-4 -> 40 dB; the set's figure is the mean of the images' dB.
    assert torch.allclose(psnr_per_image(estimate, clean), torch.tensor([20.0, 40.0]))
    assert mean_psnr(estimate, clean) == pytest.approx(30.0)
    # Errors of 0.3 on 4 of 15 pixels: MSE = 4 * 0.09 / 15.
    one = torch.zeros(1, 1, 3, 5)
    one[0, 0, 0, :4] = 0.3
    assert mean_psnr(one, clean[:1]) == pytest.approx(10 * math.log10(15 / 0.36), abs=1e-4)
    assert mean_psnr(clean, clean) == pytest.approx(100.0)  # exact: the floor of MIN_MSE


def test_masked_psnr_counts_only_the_masked_pixels():
    clean = torch.zeros(1, 1, 4, 4)
    estimate = clean.clone()
    estimate[..., :2, :] = 0.5  # wrong in the top half only
    top = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    top[..., :2, :] = True
    assert mean_psnr(estimate, clean, top) == pytest.approx(10 * math.log10(1 / 0.25))
    assert mean_psnr(estimate, clean, ~top) == pytest.approx(100.0)


def test_median_filter_removes_an_outlier_and_replicates_edges():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0  # salt
    assert median_filter3x3(x).abs().max() == 0
    # The top-left window, edges replicated, for the corner [[a, b], [c, d]] = [[0.9, 0.1],
    # [0.2, 0.3]] is [a a b], [a a b], [c c d]; sorted 0.1 0.1 0.2 0.2 0.3 0.9 0.9 0.9 0.9,
    # so its median is 0.3 (zero padding would have given 0.1).
    corner = torch.tensor([[0.9, 0.1, 0.7], [0.2, 0.3, 0.6], [0.4, 0.5, 0.8]]).view(1, 1, 3, 3)
    assert median_filter3x3(corner)[0, 0, 0, 0].item() == pytest.approx(0.3)
    # The centre sees all nine values: their median is 0.5.
    assert median_filter3x3(corner)[0, 0, 1, 1].item() == pytest.approx(0.5)
    assert median_filter3x3(torch.rand(3, 2, 7, 9)).shape == (3, 2, 7, 9)


def test_bicubic_doubles_and_stays_in_range():
    flat = torch.full((2, 1, 7, 5), 0.4)
    assert torch.allclose(bicubic_upsample(flat), torch.full((2, 1, 14, 10), 0.4))
    edge = torch.zeros(1, 1, 6, 6)
    edge[..., 3:] = 1.0  # a step: the cubic kernel overshoots, the clamp keeps [0, 1]
    up = bicubic_upsample(edge)
    assert up.min() >= 0 and up.max() <= 1


def test_restoration_metrics_per_kind():
    clean = torch.rand(11, 1, 8, 8)
    for kind, keys in (
        ("noise", {"psnr_noisy_input_db", "psnr_median3x3_db", "gain_over_noisy_input_db"}),
        ("mask", {"psnr_hidden_half_restored_db", "psnr_hidden_half_fill_db"}),
        ("downsample", {"psnr_bicubic_db", "psnr_nearest_db", "gain_over_bicubic_db"}),
    ):
        degraded = degrade_fixed(clean, kind, seed=1)
        perfect = restoration_metrics(clean, degraded, clean, kind)
        assert keys <= set(perfect) and perfect["psnr_restored_db"] == 100.0
    noisy = degrade_fixed(clean, "noise", seed=1)
    # Restoring to the noisy input itself gains nothing over it.
    same = restoration_metrics(clean, noisy, noisy.observed, "noise")
    assert same["gain_over_noisy_input_db"] == 0.0
    assert isinstance(Degraded(clean, clean).hidden, type(None))
