"""The check that latent codes are finite, shared by the model API (``decode``) and the latent
paths (:func:`~textvae.text.generate.interpolate.interpolation_path`).

Shape legend: S = rows, Z = latent size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from textvae.core.errors import InputError

__all__ = ["check_finite"]


def check_finite(z: Tensor, name: str = "z") -> None:
    """Refuse NaN or infinite latent coordinates: decoding them gives empty or arbitrary text.

    Raises:
        InputError: ``z holds nan at row 2, column 5; latents must be finite`` (a (Z,) vector
            names the column only; more than one bad value adds how many).
    """
    bad = ~torch.isfinite(z)
    if not bool(bad.any()):  # the one host sync of the check
        return
    where = bad.nonzero()[0].tolist()  # the first, in row-major order
    value = z[tuple(where)].item()
    word = "nan" if value != value else ("inf" if value > 0 else "-inf")
    place = f"column {where[0]}" if z.dim() == 1 else f"row {where[0]}, column {where[1]}"
    count = int(bad.sum())
    more = f" ({count} non-finite values in all)" if count > 1 else ""
    raise InputError(f"{name} holds {word} at {place}; latents must be finite{more}")
