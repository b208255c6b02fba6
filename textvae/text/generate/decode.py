"""Token-by-token decoding: the step loop shared by the decoders, greedy decoding, and sampling
with temperature, top-k and nucleus (top-p) filtering.

Every decoder takes a :class:`~textvae.text.models.contracts.SentenceDecoder` (an initial state from z,
one step, and for beam search reordering the state), whatever its state is.

The helpers :func:`_eval_mode`, :func:`_batch_size`, :func:`_state_device` and :func:`_trim` are
private to this package; :mod:`textvae.text.generate.beam` uses them too.

Shape legend: B = batch (rows to decode), V = vocabulary, Z = latent size, T = steps decoded.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
from torch import Tensor

from textvae.text.models.contracts import SentenceDecoder
from textvae.text.run.decoding import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DEFAULT_TOP_P,
    DecodingError,
    check_max_len,
    check_sampling,
    is_int,
)

__all__ = ["filter_logits", "greedy_decode", "sample_decode"]

StateT = TypeVar("StateT")  # the decoder's state, which decoding only passes back to it


# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(model: SentenceDecoder[Any]) -> Iterator[None]:
    """Eval mode and no autograd for the duration of a decode; the caller's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _batch_size(z: Tensor | None, batch_size: int | None) -> int:
    """B, from ``z`` (B, Z) or, for the LM baseline (``z`` None), from ``batch_size``."""
    if z is None:
        if batch_size is None:
            raise DecodingError("give z (B, Z) for a VAE, or batch_size for the LM baseline")
        if not is_int(batch_size) or batch_size < 1:
            raise DecodingError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        return int(batch_size)
    if z.dim() != 2:
        raise DecodingError(f"z must have shape (B, Z), got {tuple(z.shape)}")
    if batch_size is not None and batch_size != z.shape[0]:
        raise DecodingError(f"batch_size {batch_size} does not match z's {z.shape[0]} rows")
    return z.shape[0]


def _state_device(state: object) -> torch.device:
    """The device of a decoder state: that of its first tensor (a state is a tensor or a nested
    tuple of tensors, :class:`~textvae.text.models.contracts.SentenceDecoder`)."""
    while isinstance(state, tuple) and state:
        state = state[0]
    if not isinstance(state, Tensor):
        raise TypeError(f"a decoder state must be a tensor or a tuple of tensors, got {type(state)}")
    return state.device


def _trim(ids: Tensor, eos_id: int) -> list[list[int]]:
    """(B, T) generated ids -> per row, the ids before the first eos."""
    rows = []
    for row in ids.tolist():
        rows.append(row[: row.index(eos_id)] if eos_id in row else row)
    return rows


def _decode_loop(
    model: SentenceDecoder[StateT],
    z: Tensor | None,
    batch_size: int | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    pick: Callable[[Tensor], Tensor],
) -> list[list[int]]:
    """Token-by-token decoding where ``pick`` maps (B, V) logits to (B,) next tokens."""
    rows = _batch_size(z, batch_size)
    with _eval_mode(model):
        state = model.initial_state(z, rows)
        device = _state_device(state)
        tokens = torch.full((rows,), bos_id, dtype=torch.long, device=device)  # (B,)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)  # (B,)
        steps: list[Tensor] = []
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, state, z)  # (B, V)
            # Finished rows still run through the decoder (the batch stays rectangular); what
            # they would pick is replaced by eos so nothing after their end is ever kept.
            tokens = pick(logits).masked_fill(finished, eos_id)  # (B,)
            steps.append(tokens)
            finished |= tokens == eos_id
            if bool(finished.all()):
                break
    return _trim(torch.stack(steps, dim=1), eos_id)  # from (B, T)


# ---------------------------------------------------------------------------------------------
# Greedy and sampling
# ---------------------------------------------------------------------------------------------


def greedy_decode(
    model: SentenceDecoder[Any],
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Pick the most likely token at every step.

    Args:
        model: a :class:`~textvae.text.models.contracts.SentenceDecoder` (a
            :class:`~textvae.text.models.sentence_vae.SentenceVAE`).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token fed first.
        eos_id: the end token; a row stops when it is picked.
        max_len: most generated tokens per row, end token included (>= 1).
        batch_size: B when ``z`` is None.

    Returns:
        B id lists, without bos/eos.

    Raises:
        DecodingError: ``max_len < 1`` or inconsistent ``z``/``batch_size``.
    """
    check_max_len(max_len)
    return _decode_loop(
        model, z, batch_size, bos_id=bos_id, eos_id=eos_id, max_len=max_len,
        pick=lambda logits: logits.argmax(dim=-1),  # (B, V) -> (B,)
    )


def filter_logits(
    logits: Tensor,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int | None = DEFAULT_TOP_K,
    top_p: float | None = DEFAULT_TOP_P,
) -> Tensor:
    """Temperature, then top-k, then nucleus (top-p, Holtzman et al. 2020) filtering.

    Filtered-out tokens get ``-inf``. Top-k keeps every token tied with the k-th largest logit.
    Top-p keeps the smallest set of most likely tokens whose probability reaches ``top_p``; the
    most likely token is always kept, so a tiny ``top_p`` (like ``top_k=1``) is greedy decoding.

    Args:
        logits: (B, V).
        temperature: > 0; logits are divided by it.
        top_k: keep the k largest logits, or None.
        top_p: nucleus mass in (0, 1], or None.

    Returns:
        (B, V) filtered logits.
    """
    check_sampling(temperature, top_k, top_p)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V) each
        probs = sorted_logits.softmax(dim=-1)  # (B, V)
        # Drop a token when the tokens ranked above it already reach top_p.
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V)
        drop_sorted = mass_before >= top_p  # (B, V); rank 0 has mass 0 < top_p: always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # vocab order
        logits = logits.masked_fill(drop, -math.inf)
    return logits


def sample_decode(
    model: SentenceDecoder[Any],
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int | None = DEFAULT_TOP_K,
    top_p: float | None = DEFAULT_TOP_P,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Sample every token from the (filtered) next-token distribution; see :func:`filter_logits`.

    Args:
        model: the model (as in :func:`greedy_decode`).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token.
        eos_id: the end token.
        max_len: most generated tokens per row, end token included (>= 1).
        temperature: > 0.
        top_k: keep the k most likely tokens, or None.
        top_p: nucleus mass in (0, 1], or None.
        generator: the source of randomness (on the model's device); None uses torch's global
            generator. The same seeded generator and inputs give the same output.
        batch_size: B when ``z`` is None.

    Returns:
        B id lists, without bos/eos.

    Raises:
        DecodingError: an option out of range.
    """
    check_max_len(max_len)
    check_sampling(temperature, top_k, top_p)

    def pick(logits: Tensor) -> Tensor:
        filtered = filter_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p)
        probs = filtered.softmax(dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)

    return _decode_loop(
        model, z, batch_size, bos_id=bos_id, eos_id=eos_id, max_len=max_len, pick=pick
    )
