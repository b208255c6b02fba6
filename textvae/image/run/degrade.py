"""Image degradations for image-to-image VAEs: Gaussian noise, a hidden half, 2x downsampling.

A restoration VAE's encoder sees a degraded image and its decoder is scored on the clean one
(:mod:`textvae.image.training.train`, ``data.degrade``). Every function here is pure: images in, images
out, randomness from an explicit ``torch.Generator``.

- ``noise``: x + sigma * eps, eps ~ N(0, 1) per pixel, **clipped to [0, 1]**: a PNG holds only
  [0, 1], so the clipped image is the one a user can hand to ``textvae image restore``, and the
  noisy input's PSNR is reported on it. sigma is a fraction of the intensity range [0, 1].
- ``mask``: one of the four halves (top, bottom, left, right), drawn uniformly per image, is
  hidden: its pixels are set to ``MASK_FILL`` (mid grey, a value MNIST's black background and
  white strokes do not take in bulk, so the encoder, and a user, can see which half is missing).
- ``downsample``: 2x2 area average, (B, C, H, W) -> (B, C, H/2, W/2). The encoder gets the low
  resolution image upsampled back by nearest neighbour (:func:`encoder_input`), so every
  restoration model has the same encoder on the full-size grid: the same ``ImageVAE``, config
  and checkpoint format, and the only thing that differs between the three tasks is the data.

Shapes: B = batch, C = channels, H x W = image size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from textvae.core.errors import ConfigError

DEGRADATIONS = ("none", "noise", "mask", "downsample")
MASK_FILL = 0.5
HALVES = ("top", "bottom", "left", "right")  # the order of the half indices drawn by mask_half


class Degraded(NamedTuple):
    """A degraded batch.

    ``observed``: what a user would hold, (B, C, H, W), or (B, C, H/2, W/2) for ``downsample``.
    ``encoder_input``: what the encoder sees, always (B, C, H, W).
    ``hidden``: (B, 1, H, W) bool, True where ``mask`` hid a pixel; None for the others.
    """

    observed: Tensor
    encoder_input: Tensor
    hidden: Tensor | None = None


def add_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + std * N(0, 1) per pixel, clipped to [0, 1]. x (B, C, H, W) in [0, 1]."""
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * eps).clamp_(0.0, 1.0)


def half_masks(which: Tensor, height: int, width: int) -> Tensor:
    """The hidden-pixel masks of halves ``which`` (B,) (indices into ``HALVES``): (B, 1, H, W)
    bool. For an odd side the hidden half is the floor(side / 2) rows or columns."""
    rows = torch.arange(height, device=which.device).view(1, 1, height, 1)  # (1, 1, H, 1)
    cols = torch.arange(width, device=which.device).view(1, 1, 1, width)  # (1, 1, 1, W)
    half_h, half_w = height // 2, width // 2
    candidates = torch.stack([
        (rows < half_h).expand(1, 1, height, width),  # top
        (rows >= height - half_h).expand(1, 1, height, width),  # bottom
        (cols < half_w).expand(1, 1, height, width),  # left
        (cols >= width - half_w).expand(1, 1, height, width),  # right
    ])  # (4, 1, 1, H, W)
    return candidates[which].squeeze(1)  # (B, 1, H, W)


def mask_half(x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Hide a uniformly drawn half of each image (set it to ``MASK_FILL``).

    Returns:
        (masked images (B, C, H, W), hidden (B, 1, H, W) bool).
    """
    which = torch.randint(len(HALVES), (len(x),), generator=generator, device=x.device)  # (B,)
    hidden = half_masks(which, x.shape[-2], x.shape[-1])
    return x.masked_fill(hidden, MASK_FILL), hidden


def downsample(x: Tensor) -> Tensor:
    """2x2 area average: (B, C, H, W) -> (B, C, H/2, W/2); H and W must be even."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ConfigError(
            f"data.degrade 'downsample' needs even image sides, got {tuple(x.shape[-2:])}")
    return F.avg_pool2d(x, 2)


def upsample_nearest(x: Tensor) -> Tensor:
    """(B, C, h, w) -> (B, C, 2h, 2w), each pixel repeated 2x2: the encoder's view of a
    downsampled image."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def degrade(x: Tensor, kind: str, *, noise_std: float = 0.5,
            generator: torch.Generator | None = None) -> Degraded:
    """Degrade a batch x (B, C, H, W) in [0, 1] by ``kind`` (one of ``DEGRADATIONS``)."""
    if kind == "noise":
        noisy = add_noise(x, noise_std, generator)
        return Degraded(noisy, noisy)
    if kind == "mask":
        masked, hidden = mask_half(x, generator)
        return Degraded(masked, masked, hidden)
    if kind == "downsample":
        small = downsample(x)
        return Degraded(small, upsample_nearest(small))
    if kind == "none":
        return Degraded(x, x)
    raise ConfigError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")


def encoder_input(observed: Tensor, kind: str) -> Tensor:
    """What the encoder sees for an ``observed`` degraded image (e.g. a user's PNG): the image
    itself, or for ``downsample`` its nearest-neighbour 2x upsampling."""
    return upsample_nearest(observed) if kind == "downsample" else observed


def degrade_fixed(images: Tensor, kind: str, *, noise_std: float = 0.5, seed: int = 0,
                  chunk: int = 4096) -> Degraded:
    """One fixed degradation of an evaluation set, drawn ``chunk`` images at a time from one
    seeded generator, so the draw does not depend on how the set is later batched."""
    generator = torch.Generator(device=images.device).manual_seed(seed)
    parts = [degrade(part, kind, noise_std=noise_std, generator=generator)
             for part in images.split(chunk)]
    hiddens = [p.hidden for p in parts if p.hidden is not None]  # all or none: one kind
    hidden = torch.cat(hiddens) if hiddens else None
    return Degraded(torch.cat([p.observed for p in parts]),
                    torch.cat([p.encoder_input for p in parts]), hidden)


# Evaluation draws per split: seed data.degrade_seed plus this offset, as for binarization.
SPLIT_SEED_OFFSETS = {"train": 0, "valid": 1, "test": 2}


def degrade_split(data_cfg, images: Tensor, split: str) -> Degraded:
    """The fixed degradation of an evaluation split that ``data_cfg`` (an
    :class:`~textvae.image.run.config.ImageDataConfig`) asks for: ``data.degrade`` with
    ``data.noise_std``, seeded by ``data.degrade_seed`` plus the split's offset."""
    return degrade_fixed(images, data_cfg.degrade, noise_std=data_cfg.noise_std,
                         seed=data_cfg.degrade_seed + SPLIT_SEED_OFFSETS[split])
