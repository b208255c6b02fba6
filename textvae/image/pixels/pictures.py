"""PNG figures for image VAEs: sample grids, reconstructions, latent manifolds and traversals
(the training curves of any run are :mod:`textvae.core.curves`').

Image files are written pixel for pixel (one PNG pixel per image pixel, no resampling) with
tiles separated by a grey border of ``PAD`` pixels. Every file is written whole or not at all by
:func:`textvae.core.files.write_with` (a temporary file beside the target, then a rename), so a reader
never sees half a PNG; parent folders are created. The temporary name ends in ``.tmp``, so every
encoder is told the format (``format="png"``) rather than left to guess it from the name.
matplotlib is used without pyplot, so no GUI backend or global figure state is involved.

Shapes: N = images, C = channels (1 or 3), H x W = image size, M = latent points, Z = latent size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from textvae.core.errors import InputError
from textvae.core.files import write_with

PAD = 2
PAD_VALUE = 0.5  # grey, visible against both black and white backgrounds
_RANGE_SLACK = 1e-4  # decoders in float32 may overshoot [0, 1] by rounding


def _check_images(images: Tensor, name: str = "images") -> Tensor:
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a (N, C, H, W) tensor, got {shape}")
    if images.shape[0] < 1:
        raise ValueError(f"{name} is empty")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels, got {images.shape[1]}")
    images = images.detach().float().cpu()
    low, high = float(images.min()), float(images.max())
    if not (low >= -_RANGE_SLACK and high <= 1 + _RANGE_SLACK):  # also catches NaN
        raise ValueError(f"{name} must lie in [0, 1], got values from {low} to {high}")
    return images.clamp(0, 1)


def tile(images: Tensor, nrow: int) -> Tensor:
    """Lay images out in rows of ``nrow``, row-major, with a ``PAD``-pixel grey border.

    Args:
        images: (N, C, H, W) in [0, 1].
        nrow: images per row.

    Returns:
        (C, rows * (H + PAD) + PAD, nrow * (W + PAD) + PAD) with rows = ceil(N / nrow); unused
        cells at the end are grey.
    """
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    canvas = images.new_full((c, rows * (h + PAD) + PAD, nrow * (w + PAD) + PAD), PAD_VALUE)
    for i in range(n):
        top = PAD + (i // nrow) * (h + PAD)
        left = PAD + (i % nrow) * (w + PAD)
        canvas[:, top : top + h, left : left + w] = images[i]
    return canvas


def _save_canvas(canvas: Tensor, path: str | os.PathLike) -> Path:
    # canvas: (C, H, W) in [0, 1]
    from matplotlib.image import imsave

    # Grey images go out as RGB with equal channels: a colormap would quantise to its own
    # 256-entry table on top of the PNG's 8 bits.
    array = canvas.expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy()  # (H, W, 3)
    return write_with(path, lambda temp: imsave(temp, array, format="png"), make_parents=True)


def save_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """Save images as one tiled PNG.

    Args:
        images: (N, C, H, W) with C in {1, 3} and values in [0, 1].
        path: the PNG to write; parent folders are created.
        nrow: images per row (default ceil(sqrt(N))).

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: for a wrong shape, channel count or value range, or nrow < 1.
    """
    images = _check_images(images)
    if nrow is None:
        nrow = math.ceil(math.sqrt(images.shape[0]))
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    return _save_canvas(tile(images, nrow), path)


def save_image(image: Tensor, path: str | os.PathLike) -> Path:
    """Save one image (C, H, W) in [0, 1] as a PNG of exactly H x W pixels, no border."""
    return _save_canvas(_check_images(image.unsqueeze(0))[0], path)


def save_reconstructions(
    inputs: Tensor, recons: Tensor, path: str | os.PathLike, pairs_per_row: int | None = None
) -> Path:
    """Save inputs beside their reconstructions: each row holds pairs (input, reconstruction).

    Args:
        inputs: (N, C, H, W) in [0, 1].
        recons: (N, C, H, W) in [0, 1], row i reconstructing ``inputs[i]``.
        path: the PNG to write.
        pairs_per_row: pairs per row (default ceil(sqrt(N))), so each row has twice as many images.

    Raises:
        ValueError: if the shapes differ or either is not a valid image batch.
    """
    inputs = _check_images(inputs, "inputs")
    recons = _check_images(recons, "recons")
    if inputs.shape != recons.shape:
        raise ValueError(
            f"inputs and recons must have the same shape, got {tuple(inputs.shape)} and "
            f"{tuple(recons.shape)}"
        )
    if pairs_per_row is None:
        pairs_per_row = math.ceil(math.sqrt(inputs.shape[0]))
    if pairs_per_row < 1:
        raise ValueError(f"pairs_per_row must be >= 1, got {pairs_per_row}")
    pairs = torch.stack([inputs, recons], dim=1).flatten(0, 1)  # (2N, C, H, W): in, rec, in, ...
    return _save_canvas(tile(pairs, 2 * pairs_per_row), path)


def manifold_points(n: int) -> Tensor:
    """The latent grid of Kingma & Welling 2014, Fig. 4: quantiles q_i = (i + 1/2) / n, i < n,
    evenly spaced in (0, 1), mapped through the inverse standard normal CDF.

    Returns:
        (n * n, 2) points in row-major display order: point r * n + c has z_1 = Phi^-1(q_c)
        (growing to the right) and z_2 = Phi^-1(q_{n-1-r}) (growing upwards).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    z = torch.special.ndtri((torch.arange(n, dtype=torch.float64) + 0.5) / n).float()  # (n,)
    z1 = z.repeat(n)  # column value for each cell
    z2 = z.flip(0).repeat_interleave(n)  # row value for each cell, top row highest
    return torch.stack([z1, z2], dim=1)


def save_manifold(
    decode: Callable[[Tensor], Tensor], path: str | os.PathLike, n: int = 20
) -> Path:
    """Decode an n x n grid of 2-D latent points (see ``manifold_points``) and tile the images.

    Args:
        decode: maps (M, 2) latent points to (M, C, H, W) images in [0, 1] (e.g. Bernoulli means).
            Called once, under ``torch.no_grad``, with M = n * n.
        path: the PNG to write.
        n: grid side.

    Raises:
        ValueError: if decode returns the wrong number or shape of images.
    """
    points = manifold_points(n)  # (n*n, 2)
    with torch.no_grad():
        images = decode(points)
    images = _check_images(images, "decoded images")
    if images.shape[0] != n * n:
        raise ValueError(f"decode returned {images.shape[0]} images for {n * n} points")
    return _save_canvas(tile(images, n), path)


def traversal_points(
    z0: Tensor, dims: Sequence[int] | None = None, values: Sequence[float] | Tensor | None = None
) -> Tensor:
    """Latent traversals: for each dim d in ``dims`` and each v in ``values``, z0 with z_d = v.

    Args:
        z0: (Z,) the point to start from.
        dims: latent dimensions to vary (default all Z, in order).
        values: the values to set (default 9 values evenly spaced in [-3, 3]).

    Returns:
        (len(dims), len(values), Z): entry [i, j] is z0 with dimension dims[i] set to values[j].
    """
    if not isinstance(z0, Tensor) or z0.dim() != 1:
        shape = tuple(z0.shape) if isinstance(z0, Tensor) else type(z0).__name__
        raise ValueError(f"z0 must be a (Z,) tensor, got {shape}")
    z_dim = z0.shape[0]
    dims = list(range(z_dim)) if dims is None else [int(d) for d in dims]
    if not dims or min(dims) < -z_dim or max(dims) >= z_dim:
        raise ValueError(f"dims must be non-empty indices into {z_dim} latent dimensions: {dims}")
    values = torch.linspace(-3, 3, 9) if values is None else torch.as_tensor(values)
    values = values.to(z0.dtype).to(z0.device).flatten()  # (V,)
    if values.numel() == 0:
        raise ValueError("values must not be empty")
    points = z0.detach().repeat(len(dims), values.numel(), 1)  # (D, V, Z)
    for row, d in enumerate(dims):
        points[row, :, d] = values
    return points


def save_traversals(
    decode: Callable[[Tensor], Tensor],
    z0: Tensor,
    path: str | os.PathLike,
    dims: Sequence[int] | None = None,
    values: Sequence[float] | Tensor | None = None,
) -> Path:
    """One row per latent dimension in ``dims``; the columns decode z0 with that dimension set to
    each of ``values`` (see ``traversal_points``).

    Args:
        decode: maps (M, Z) latent points to (M, C, H, W) images in [0, 1]; called once, under
            ``torch.no_grad``.
        z0: (Z,) the point to start from (e.g. the posterior mean of one image, or zeros).
        path: the PNG to write.
        dims: dimensions to traverse (default all).
        values: values to set (default 9 values evenly spaced in [-3, 3]).
    """
    points = traversal_points(z0, dims, values)  # (D, V, Z)
    columns = points.shape[1]
    points = points.flatten(0, 1)  # (D*V, Z), row-major as displayed
    with torch.no_grad():
        images = decode(points)
    images = _check_images(images, "decoded images")
    if images.shape[0] != points.shape[0]:
        raise ValueError(f"decode returned {images.shape[0]} images for {points.shape[0]} points")
    return _save_canvas(tile(images, columns), path)


def read_image_file(path: str | Path, channels: int, size: int, *, resize: bool = True) -> Tensor:
    """An image file (PNG, or anything PIL reads) as (C, size, size) float grey levels (or RGB)
    in [0, 1]: resized to ``size`` (bilinear), or, with ``resize=False``, refused unless it is
    ``size`` x ``size`` already (a restoration must see the pixels it was given).

    Raises:
        InputError: the file is missing, a folder, not an image, or (``resize=False``) of
            another size.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise InputError(f"input image not found: {path}")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    try:
        with Image.open(path) as image:
            if image.size != (size, size) and not resize:
                raise InputError(f"input {path} is {image.size[0]}x{image.size[1]} pixels; the "
                                 f"model reads {size}x{size} images")
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path} is not an image that can be read ({type(err).__name__})") from None
    t = torch.from_numpy(array.copy())
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
