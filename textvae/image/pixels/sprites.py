"""Procedural 2-D sprites after dSprites (Matthey et al. 2017), so image models need no download.

Every image is 64 x 64 and binary: one white shape on a black background, fully determined by
five discrete factors (the dSprites grid, with shape indices starting at 0):

    factor       size  values
    shape           3  0 square, 1 ellipse, 2 heart
    scale           6  evenly from 0.5 to 1.0
    orientation    40  k * 2pi / 40 radians, k = 0..39 (counter-clockwise as displayed)
    pos_x          32  evenly from 0 to 1, left to right
    pos_y          32  evenly from 0 to 1, top to bottom (image row order)

The shapes are drawn from their implicit equations, not copied from the dSprites files, so the
pixels differ from the original data set while the factor grid is the same.

Shapes: N = images, F = 5 factors, H = W = 64 pixels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64

# Geometry in units of the image width. At scale 1 the square is 2 * _UNIT = 20 pixels wide; the
# centre stays within [_MARGIN, 1 - _MARGIN], so an upright shape of scale 1 (half-width 10 pixels,
# 0.156) never leaves the image and a rotated square's corners (half-diagonal 0.22) barely do.
_UNIT = 10 / IMAGE_SIZE
_MARGIN = 0.2
# The heart curve (x^2 + y^2 - 1)^3 - x^2 y^3 = 0 spans x in [-1.14, 1.14] and y in [-1, 1.24];
# shift it down by 0.12 and shrink it by 1.2 so its bounding box is about the unit square.
_HEART_SHIFT = 0.12
_HEART_SHRINK = 1.2
# The ellipse's semi-axes in units: long along x, short along y (before rotation).
_ELLIPSE_AXES = (1.0, 0.5)
# Render in chunks of this many images so the (N, H, W) temporaries stay near 100 MB.
_CHUNK = 1024


def _check_factors(factors: Tensor) -> None:
    width = len(FACTOR_SIZES)
    if not isinstance(factors, Tensor) or factors.dim() != 2 or factors.shape[1] != width:
        shape = tuple(factors.shape) if isinstance(factors, Tensor) else type(factors).__name__
        raise ValueError(f"factors must be a tensor of shape (n, {width}), got {shape}")
    if factors.dtype.is_floating_point or factors.dtype == torch.bool or factors.is_complex():
        raise ValueError(f"factors must be integer indices, got dtype {factors.dtype}")
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)):
        column = factors[:, k]
        if column.numel() and (int(column.min()) < 0 or int(column.max()) >= size):
            raise ValueError(
                f"factor {name!r} (column {k}) must lie in [0, {size - 1}], "
                f"got values from {int(column.min())} to {int(column.max())}"
            )


def factor_values(factors: Tensor) -> Tensor:
    """The physical value of each factor index.

    Args:
        factors: (N, 5) integer indices, columns as in ``FACTOR_NAMES``.

    Returns:
        (N, 5) float32: shape index (0., 1. or 2.), scale in [0.5, 1], orientation in radians in
        [0, 2pi), pos_x and pos_y in [0, 1].

    Raises:
        ValueError: if ``factors`` has the wrong shape or dtype, or an index is out of range.
    """
    _check_factors(factors)
    idx = factors.to(torch.float32)
    return torch.stack(
        [
            idx[:, 0],
            0.5 + 0.5 * idx[:, 1] / (FACTOR_SIZES[1] - 1),
            idx[:, 2] * (2 * math.pi / FACTOR_SIZES[2]),
            idx[:, 3] / (FACTOR_SIZES[3] - 1),
            idx[:, 4] / (FACTOR_SIZES[4] - 1),
        ],
        dim=1,
    )


def sample_factors(n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` factor vectors drawn uniformly and independently from the grid.

    Returns:
        (N, 5) int64 indices.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    columns = [torch.randint(size, (n,), generator=generator) for size in FACTOR_SIZES]
    return torch.stack(columns, dim=1)


# Each shape's frame from the unit frame (u right, v up, in units of _UNIT * scale):
# u' = u * ku, v' = v * kv + shift, chosen so every test below compares against 1 or 0.
_FRAMES = (
    (1.0, 1.0, 0.0),  # square |u'|, |v'| <= 1
    (1 / _ELLIPSE_AXES[0], 1 / _ELLIPSE_AXES[1], 0.0),  # ellipse u'^2 + v'^2 <= 1
    (_HEART_SHRINK, _HEART_SHRINK, _HEART_SHIFT),  # heart (u'^2 + v'^2 - 1)^3 <= u'^2 v'^3
)


def _inside(shape: int, u: Tensor, v: Tensor) -> Tensor:
    """Whether the points (u, v) in the shape's own frame (see _FRAMES) lie inside it."""
    if shape == 0:
        return (u.abs() <= 1) & (v.abs() <= 1)
    u2 = u * u
    if shape == 1:
        return u2 + v * v <= 1
    v2 = v * v
    r = u2 + v2 - 1
    return r * r * r <= u2 * v2 * v


def _render_chunk(values: Tensor, shapes: Tensor) -> Tensor:
    # values: (n, 5) physical values, shapes: (n,) indices; returns (n, H, W) bool.
    n = values.shape[0]
    centres = (torch.arange(IMAGE_SIZE, dtype=torch.float32, device=values.device) + 0.5)
    centres = centres / IMAGE_SIZE  # (W,) pixel centres in image widths
    size = values[:, 1].view(n, 1, 1) * _UNIT  # (n, 1, 1) image widths per shape unit
    cx = (_MARGIN + (1 - 2 * _MARGIN) * values[:, 3]).view(n, 1, 1)
    cy = (_MARGIN + (1 - 2 * _MARGIN) * values[:, 4]).view(n, 1, 1)
    dx = (centres.view(1, 1, IMAGE_SIZE) - cx) / size  # (n, 1, W), to the right
    dy = (cy - centres.view(1, IMAGE_SIZE, 1)) / size  # (n, H, 1), up: rows grow downwards
    cos = torch.cos(values[:, 2]).view(n, 1, 1)
    sin = torch.sin(values[:, 2]).view(n, 1, 1)
    out = torch.zeros(n, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.bool, device=values.device)
    for shape, (ku, kv, shift) in enumerate(_FRAMES):
        rows = (shapes == shape).nonzero().squeeze(1)
        if not rows.numel():
            continue
        c, s, x, y = cos[rows], sin[rows], dx[rows], dy[rows]
        # Rotating by -angle, u = cos dx + sin dy and v = cos dy - sin dx. Each is a sum of a
        # (m, 1, W) and a (m, H, 1) term, so only the final add is full (m, H, W) size.
        u = (c * ku) * x + (s * ku) * y  # (m, H, W)
        v = (-s * kv) * x + ((c * kv) * y + shift)  # (m, H, W)
        out[rows] = _inside(shape, u, v)
    return out


def render(factors: Tensor) -> Tensor:
    """Rasterise sprites: a pixel is 1 when its centre lies inside the rotated, scaled, translated
    shape, else 0 (no anti-aliasing).

    Args:
        factors: (N, 5) integer indices, columns as in ``FACTOR_NAMES``.

    Returns:
        (N, 1, 64, 64) float32 with values exactly 0. or 1.

    Raises:
        ValueError: if ``factors`` has the wrong shape or dtype, or an index is out of range.
    """
    values = factor_values(factors)  # (N, 5); validates
    n = values.shape[0]
    out = values.new_empty(n, 1, IMAGE_SIZE, IMAGE_SIZE)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        out[start:stop, 0] = _render_chunk(values[start:stop], factors[start:stop, 0])
    return out


def make_sprites(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` random sprites with their factors, the same for the same ``seed`` on any machine.

    Returns:
        images (N, 1, 64, 64) float32 in {0, 1}, and factors (N, 5) int64.
    """
    generator = torch.Generator().manual_seed(seed)
    factors = sample_factors(n, generator=generator)
    return render(factors), factors
