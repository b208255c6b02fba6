"""Latent paths for interpolation: evenly spaced points between two latent codes.

Shape legend: Z = latent size, S = points on a path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from textvae.text.generate.latents import check_finite
from textvae.text.run.decoding import DecodingError, is_int

__all__ = ["INTERPOLATION_PATHS", "check_interpolation", "interpolation_path"]

INTERPOLATION_PATHS = ("linear", "slerp")


def check_interpolation(steps: int, path: str) -> None:
    """Check a path's options before any work (:func:`interpolation_path` checks them too).

    Raises:
        DecodingError: ``steps < 2`` or an unknown path.
    """
    if not is_int(steps) or steps < 2:
        raise DecodingError(
            f"steps must be an integer >= 2 (the points of the path, both endpoints included), "
            f"got {steps!r}"
        )
    if path not in INTERPOLATION_PATHS:
        raise DecodingError(
            f"unknown interpolation path {path!r}; valid: {list(INTERPOLATION_PATHS)}"
        )


def interpolation_path(
    z_a: Tensor, z_b: Tensor, *, steps: int, path: str = "linear", start: int = 0,
    stop: int | None = None,
) -> Tensor:
    """``steps`` evenly spaced points from ``z_a`` to ``z_b``, both endpoints included, or the
    points ``start`` to ``stop - 1`` of them (a long path is decoded a chunk at a time).

    Point i sits at t_i = i / (S - 1), computed in float64 and then rounded to the dtype of the
    endpoints, so a point does not depend on which slice computes it (``torch.linspace`` rounds
    differently with the CPU's vector width and its threads). ``linear`` is
    ``(1 - t) z_a + t z_b``. ``slerp`` (spherical interpolation, White 2016) moves
    along the great circle at a constant angle per step, scaling between the two norms as a
    linear path does; it keeps intermediate points at a typical distance from the origin of a
    Gaussian prior instead of cutting through its low-norm centre. For (anti)parallel or zero
    vectors the angle is undefined and slerp falls back to the linear path.

    Args:
        z_a: (Z,) first endpoint.
        z_b: (Z,) last endpoint.
        steps: S >= 2 points in all; point 0 is ``z_a`` and point S-1 is ``z_b`` exactly.
        path: ``"linear"`` or ``"slerp"``.
        start: the first point to return.
        stop: one past the last point to return (default S).

    Returns:
        (stop - start, Z); (S, Z) by default.

    Raises:
        DecodingError: ``steps < 2``, an unknown path, endpoints of different shapes, or a
            slice outside 0 <= start <= stop <= S.
        InputError: an endpoint holds NaN or an infinity (``z_b holds inf at column 4``).
    """
    check_interpolation(steps, path)
    stop = steps if stop is None else stop
    if not (is_int(start) and is_int(stop) and 0 <= start <= stop <= steps):
        raise DecodingError(
            f"start and stop must satisfy 0 <= start <= stop <= {steps}, got {start!r}, {stop!r}"
        )
    if z_a.dim() != 1 or z_a.shape != z_b.shape:
        raise DecodingError(
            f"endpoints must be two (Z,) vectors, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    check_finite(z_a, "z_a")
    check_finite(z_b, "z_b")
    t = torch.arange(start, stop, dtype=torch.float64) / (steps - 1)
    t = t.to(dtype=z_a.dtype, device=z_a.device).unsqueeze(1)  # (P, 1), P = stop - start
    points = (1 - t) * z_a + t * z_b  # (P, Z)
    if path == "slerp":
        norms = z_a.norm() * z_b.norm()
        if norms > 0:
            cos = (z_a @ z_b / norms).clamp(-1.0, 1.0)
            omega = torch.arccos(cos)  # the angle between the endpoints, a 0-d tensor
            sin_omega = torch.sin(omega)
            if sin_omega > 1e-6:
                points = (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / sin_omega
    # Exact endpoints whatever the rounding above: decoding point 0 must be decoding z_a.
    if start == 0 < stop:
        points[0] = z_a
    if start < stop == steps:
        points[-1] = z_b
    return points
