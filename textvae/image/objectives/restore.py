"""Measuring image restoration: PSNR, and the classical baselines a restoration VAE must beat.

- :func:`psnr_per_image`: peak signal-to-noise ratio, peak 1 (images in [0, 1]), **one value per
  image**; a set's figure is the mean of its images' PSNRs (in dB), not the PSNR of the pooled
  error, so one perfect image cannot dominate. An optional mask restricts the error to some
  pixels (the hidden half of a masked image).
- :func:`median_filter3x3`: the 3x3 median filter, the textbook denoiser for comparison.
- :func:`bicubic_upsample`: 2x bicubic interpolation clamped to [0, 1], the super-resolution
  baseline.
- :func:`restoration_metrics`: the figures ``textvae image evaluate`` reports for a run with
  ``data.degrade`` set, from the clean, degraded and restored images.

Shapes: N = images, C = channels, H x W = image size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from textvae.image.run.degrade import Degraded

# An exact restoration has infinite PSNR; its squared error is floored here, capping one image's
# PSNR at 10 log10(1 / 1e-10) = 100 dB, so a set's mean stays finite.
MIN_MSE = 1e-10


def psnr_per_image(estimate: Tensor, clean: Tensor, mask: Tensor | None = None,
                   peak: float = 1.0) -> Tensor:
    """10 log10(peak^2 / MSE) of each image: estimate, clean (N, C, H, W) -> (N,) in dB.

    ``mask`` (N, 1 or C, H, W) bool: the MSE is taken over the True pixels only (each image
    needs at least one).
    """
    squared = (estimate.float() - clean.float()).pow(2)  # (N, C, H, W)
    if mask is None:
        mse = squared.flatten(1).mean(1)  # (N,)
    else:
        weight = mask.expand_as(squared).float()
        mse = (squared * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)
    return 10.0 * torch.log10(peak**2 / mse.clamp_min(MIN_MSE))


def mean_psnr(estimate: Tensor, clean: Tensor, mask: Tensor | None = None) -> float:
    """The mean over images of :func:`psnr_per_image`, in dB."""
    return psnr_per_image(estimate, clean, mask).mean().item()


def median_filter3x3(x: Tensor) -> Tensor:
    """The 3x3 median of every pixel's neighbourhood, edges padded by replication:
    (N, C, H, W) -> (N, C, H, W)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")  # (N, C, H + 2, W + 2)
    patches = F.unfold(padded, kernel_size=3)  # (N, C * 9, H * W)
    return patches.view(n, c, 9, h, w).median(dim=2).values


def bicubic_upsample(x: Tensor, factor: int = 2) -> Tensor:
    """Bicubic interpolation by ``factor``, clamped to [0, 1] (the cubic kernel overshoots):
    (N, C, h, w) -> (N, C, factor h, factor w)."""
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


def restoration_metrics(clean: Tensor, degraded: Degraded, restored: Tensor, kind: str) -> dict:
    """The restoration figures of one set, in dB (mean of per-image PSNRs, peak 1).

    Args:
        clean: (N, C, H, W) the originals.
        degraded: their degradation (:func:`textvae.image.run.degrade.degrade`).
        restored: (N, C, H, W) the model's restorations.
        kind: ``noise``, ``mask`` or ``downsample``.

    Returns:
        ``psnr_restored_db`` and, by kind: ``noise``: ``psnr_noisy_input_db``,
        ``psnr_median3x3_db`` and the restoration's gain over each; ``mask``:
        ``psnr_hidden_half_restored_db`` (on the hidden pixels only) and
        ``psnr_hidden_half_fill_db`` (the grey fill left in place); ``downsample``:
        ``psnr_bicubic_db``, ``psnr_nearest_db`` and the gain over bicubic.
    """
    result = {"psnr_restored_db": mean_psnr(restored, clean)}
    if kind == "noise":
        result["psnr_noisy_input_db"] = mean_psnr(degraded.observed, clean)
        result["psnr_median3x3_db"] = mean_psnr(median_filter3x3(degraded.observed), clean)
        restored_db = result["psnr_restored_db"]
        result["gain_over_noisy_input_db"] = restored_db - result["psnr_noisy_input_db"]
        result["gain_over_median3x3_db"] = result["psnr_restored_db"] - result["psnr_median3x3_db"]
    elif kind == "mask":
        result["psnr_hidden_half_restored_db"] = mean_psnr(restored, clean, degraded.hidden)
        result["psnr_hidden_half_fill_db"] = mean_psnr(degraded.observed, clean, degraded.hidden)
        result["psnr_masked_input_db"] = mean_psnr(degraded.observed, clean)
    elif kind == "downsample":
        result["psnr_bicubic_db"] = mean_psnr(bicubic_upsample(degraded.observed), clean)
        result["psnr_nearest_db"] = mean_psnr(degraded.encoder_input, clean)
        result["gain_over_bicubic_db"] = result["psnr_restored_db"] - result["psnr_bicubic_db"]
    return {k: round(v, 3) if math.isfinite(v) else v for k, v in result.items()}
