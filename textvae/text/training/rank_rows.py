"""One rank's share of a sentence model's global batch under DistributedDataParallel.

Every rank collates the whole global batch and draws its word dropout and noise for all B rows
(so one process and N processes draw the same numbers); each then trains on the rows
:meth:`~textvae.core.distributed.Distributed.rows` gives it, b of them, trimmed to its own
longest sentence, and the loss terms it logs are averaged back over the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from textvae.core.distributed import Distributed
from textvae.core.objectives import LossTerms

# What the encoder reads under word deletion: (B, T') tokens and (B,) lengths on the device,
# and the lengths as ints.
EncoderInputs = tuple[torch.Tensor, torch.Tensor, list[int]]


class StepRows(NamedTuple):
    """A training step's rows: the global batch's (B) or one rank's (b)."""

    ids: torch.Tensor  # (B, T + 1) bos, words, eos, padding
    decoder_inputs: torch.Tensor  # (B, T) after word dropout
    lengths: torch.Tensor  # (B,) words + eos, on the device
    host_lengths: Sequence[int]  # the same as ints
    eps: torch.Tensor | None  # (B, Z) reparameterization noise; None for the LM baseline
    encoder_inputs: EncoderInputs | None  # None without word deletion


def this_ranks_rows(step: StepRows, dist: Distributed) -> StepRows:
    """The rows of ``step`` this rank trains on, cut to their longest sentence (no extra
    padding). Indexing on the device is sync-free: the row numbers come from the host."""
    rows_cpu = dist.rows(len(step.host_lengths), torch.device("cpu"))  # (b,), on the host
    host_lengths = [step.host_lengths[i] for i in rows_cpu.tolist()]
    rows = rows_cpu.to(step.ids.device, non_blocking=True)  # (b,)
    width = max(host_lengths)
    encoder_inputs = step.encoder_inputs
    if encoder_inputs is not None:
        kept = [encoder_inputs[2][i] for i in rows_cpu.tolist()]
        encoder_inputs = (encoder_inputs[0][rows, : max(kept)], encoder_inputs[1][rows], kept)
    return StepRows(step.ids[rows, : width + 1], step.decoder_inputs[rows, :width],
                    step.lengths[rows], host_lengths,
                    None if step.eps is None else step.eps[rows], encoder_inputs)


def global_terms(terms: LossTerms, share: float, dist: Distributed) -> LossTerms:
    """Average a rank's loss terms over the global batch (each weighted by its row share)."""
    local = torch.stack([terms.loss, terms.neg_elbo, terms.reconstruction, terms.kl]).detach()
    loss, neg_elbo, rec, kl = dist.sum(local.float() * share)
    return LossTerms(loss, neg_elbo, rec, kl, terms.kl_weight)
