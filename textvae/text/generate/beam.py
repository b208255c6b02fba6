"""Beam search, batched over B rows x K beams in one decoder batch of B*K.

Shape legend: B = batch (rows to decode), K = beam size, V = vocabulary, Z = latent size,
T = steps decoded so far.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from textvae.text.generate.decode import _batch_size, _eval_mode, _state_device, _trim
from textvae.text.models.contracts import SentenceDecoder
from textvae.text.run.decoding import (
    DEFAULT_BEAM_SIZE,
    DEFAULT_LENGTH_NORMALIZATION,
    check_beam,
    check_max_len,
)

__all__ = ["beam_search"]


def beam_search(
    model: SentenceDecoder[Any],
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = DEFAULT_BEAM_SIZE,
    length_normalization: bool | float = DEFAULT_LENGTH_NORMALIZATION,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Beam search, batched over B rows x K beams in one decoder batch of B*K.

    Hypotheses are ranked by ``log p(y | z) / len(y) ** alpha``, where ``len(y)`` counts the
    generated tokens including the end token, and alpha is 1 for ``length_normalization=True``
    (mean log-probability per token), 0 for False (the plain sum, which favours short
    sentences), or the given float. The same score ranks candidates at every step and picks the
    final answer. A finished hypothesis stays in its beam with a single continuation (eos, at no
    cost), so its score no longer changes. The search stops when every beam of every row has
    finished, or (with alpha = 0, where scores can only fall) when every row's best finished
    hypothesis beats all its unfinished ones, or after ``max_len`` steps (then unfinished
    hypotheses compete as they are).

    Scores are kept in float64 so that adding a long prefix's score cannot round two different
    next-token log-probabilities into a tie: with ``beam_size=1`` this is exactly greedy decoding.

    Args:
        model: the model (as in :func:`~textvae.text.generate.greedy_decode`).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token.
        eos_id: the end token.
        max_len: most generated tokens per row, end token included (>= 1).
        beam_size: K >= 1.
        length_normalization: True (alpha = 1), False (alpha = 0) or an exponent alpha >= 0.
        batch_size: B when ``z`` is None.

    Returns:
        B id lists (each row's best hypothesis), without bos/eos.

    Raises:
        DecodingError: an option out of range.
    """
    check_max_len(max_len)
    alpha = check_beam(beam_size, length_normalization)
    rows = _batch_size(z, batch_size)
    k = beam_size

    def normalized(score: Tensor, length: Tensor) -> Tensor:
        return score / length.clamp(min=1).double().pow(alpha)

    with _eval_mode(model):
        state = model.initial_state(z, rows)
        device = _state_device(state)
        # Row b's beams sit at b*K .. b*K+K-1 of the decoder batch.
        expand = torch.arange(rows, device=device).repeat_interleave(k)  # (B*K,)
        state = model.reorder_state(state, expand)
        z_beams = None if z is None else z.index_select(0, expand)  # (B*K, Z)
        tokens = torch.full((rows * k,), bos_id, dtype=torch.long, device=device)  # (B*K,)
        # All K beams start as the same empty hypothesis; only beam 0 may expand at the first
        # step, or the first step would fill the beam with K copies of each candidate.
        scores = torch.zeros(rows, k, dtype=torch.float64, device=device)  # (B, K)
        scores[:, 1:] = -math.inf
        lengths = torch.zeros(rows, k, dtype=torch.long, device=device)  # (B, K)
        finished = torch.zeros(rows, k, dtype=torch.bool, device=device)  # (B, K)
        history = torch.empty(rows, k, 0, dtype=torch.long, device=device)  # (B, K, T)
        row_offset = torch.arange(rows, device=device).unsqueeze(1) * k  # (B, 1)
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, state, z_beams)  # (B*K, V)
            vocab = logits.shape[-1]
            logp = logits.double().log_softmax(dim=-1).view(rows, k, vocab)  # (B, K, V)
            # A finished hypothesis continues only with eos, at log-probability 0.
            eos_only = torch.full_like(logp[0, 0], -math.inf)  # (V,)
            eos_only[eos_id] = 0.0
            logp = torch.where(finished.unsqueeze(-1), eos_only, logp)
            candidates = scores.unsqueeze(-1) + logp  # (B, K, V)
            new_length = lengths + (~finished).long()  # (B, K): length after this step
            rank = normalized(candidates, new_length.unsqueeze(-1))  # (B, K, V)
            top = rank.view(rows, k * vocab).topk(k, dim=-1).indices  # (B, K)
            beam = top // vocab  # (B, K): which hypothesis each survivor extends
            token = top % vocab  # (B, K)
            scores = candidates.view(rows, k * vocab).gather(1, top)
            lengths = new_length.gather(1, beam)
            finished = finished.gather(1, beam) | (token == eos_id)
            steps = history.shape[-1]
            history = torch.cat(
                [history.gather(1, beam.unsqueeze(-1).expand(-1, -1, steps)), token.unsqueeze(-1)],
                dim=-1,
            )  # (B, K, T+1)
            state = model.reorder_state(state, (row_offset + beam).view(-1))
            tokens = token.view(-1)
            if bool(finished.all()):
                break
            if alpha == 0.0:
                # Raw log-probabilities only fall as a hypothesis grows: once each row's best
                # finished hypothesis beats all its unfinished ones, nothing can overtake it.
                done = scores.masked_fill(~finished, -math.inf).amax(dim=1)  # (B,)
                still_open = scores.masked_fill(finished, -math.inf).amax(dim=1)  # (B,)
                if bool((done > still_open).all()):
                    break
        best = normalized(scores, lengths).argmax(dim=-1)  # (B,)
        chosen = history[torch.arange(rows, device=device), best]  # (B, T)
    return _trim(chosen, eos_id)
