"""Latent paths for interpolation: evenly spaced points between two latent codes.

Shape legend: Z = latent size, S = points on a path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from textvae.decoding import DecodingError, is_int

__all__ = ["INTERPOLATION_PATHS", "interpolation_path"]

INTERPOLATION_PATHS = ("linear", "slerp")


def interpolation_path(z_a: Tensor, z_b: Tensor, *, steps: int, path: str = "linear") -> Tensor:
    """``steps`` evenly spaced points from ``z_a`` to ``z_b``, both endpoints included.

    ``linear`` is ``(1 - t) z_a + t z_b``. ``slerp`` (spherical interpolation, White 2016) moves
    along the great circle at a constant angle per step, scaling between the two norms as a
    linear path does; it keeps intermediate points at a typical distance from the origin of a
    Gaussian prior instead of cutting through its low-norm centre. For (anti)parallel or zero
    vectors the angle is undefined and slerp falls back to the linear path.

    Args:
        z_a: (Z,) first endpoint.
        z_b: (Z,) last endpoint.
        steps: S >= 2 points in all; point 0 is ``z_a`` and point S-1 is ``z_b`` exactly.
        path: ``"linear"`` or ``"slerp"``.

    Returns:
        (S, Z).

    Raises:
        DecodingError: ``steps < 2``, an unknown path, or endpoints of different shapes.
    """
    if not is_int(steps) or steps < 2:
        raise DecodingError(
            f"steps must be an integer >= 2 (the points of the path, both endpoints included), "
            f"got {steps!r}"
        )
    if path not in INTERPOLATION_PATHS:
        raise DecodingError(f"unknown interpolation path {path!r}; valid: {list(INTERPOLATION_PATHS)}")
    if z_a.dim() != 1 or z_a.shape != z_b.shape:
        raise DecodingError(
            f"endpoints must be two (Z,) vectors, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype, device=z_a.device).unsqueeze(1)  # (S, 1)
    points = (1 - t) * z_a + t * z_b  # (S, Z)
    if path == "slerp":
        norms = z_a.norm() * z_b.norm()
        if norms > 0:
            cos = (z_a @ z_b / norms).clamp(-1.0, 1.0)
            omega = torch.arccos(cos)  # the angle between the endpoints, a 0-d tensor
            sin_omega = torch.sin(omega)
            if sin_omega > 1e-6:
                points = (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / sin_omega
    # Exact endpoints whatever the rounding above: decoding point 0 must be decoding z_a.
    points[0] = z_a
    points[-1] = z_b
    return points
