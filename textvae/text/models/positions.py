"""Where a padded batch's real positions lie, worked out on the host (the sentence VAE's helpers).

The host knows every sentence's length (``Batch.host_lengths``); building indices from them, not
from a mask on the device, keeps a forward pass from waiting on a GPU.
"""

from collections.abc import Sequence

import torch
from torch import Tensor


def nonpad_positions(host_lengths: Sequence[int], width: int, device: torch.device
                     ) -> Tensor | None:
    """Where the non-pad positions of a (B, T) batch lie in its flattened (B*T) rows: (N,) long,
    row-major over (b, t) with ``t < host_lengths[b]``; None when no row is padded (all of them).

    Built on the host from the host lengths and copied without waiting (``non_blocking``): a
    boolean mask would make the device count its True entries and the host wait for the count.
    """
    if min(host_lengths) == width:
        return None
    flat = [row * width + t for row, n in enumerate(host_lengths) for t in range(n)]
    return torch.tensor(flat).to(device, non_blocking=True)


def gather_rows(x: Tensor, positions: Tensor | None) -> Tensor:
    """(B, T, H) -> (N, H): the rows at ``positions`` of ``x`` flattened over (b, t)."""
    flat = x.reshape(-1, x.shape[-1])  # (B*T, H)
    return flat if positions is None else flat.index_select(0, positions)


def on_host(lengths: Tensor, host_lengths: Sequence[int] | None) -> Sequence[int]:
    """The lengths as Python ints: ``host_lengths`` when given, else read from the device
    (one wait on a GPU)."""
    return lengths.tolist() if host_lengths is None else host_lengths


def full_precision(like: Tensor):
    """A context that switches autocast off on ``like``'s device (float32 inside)."""
    return torch.autocast(like.device.type, enabled=False)
