"""The sentence-VAE objective as pure functions: reconstruction, KL schedules, free bits, word dropout
and word deletion.

Conventions (../shared/CONVENTIONS.md): reconstruction NLL is summed over each sentence's target
tokens (words plus the end token; the start token is not a target), in nats. KL is to N(0, I), in
closed form, in nats. The true negative ELBO (at beta = 1) is always reported, separately from the
training loss, which may weight or clamp the KL.

Shapes: B = batch, T = padded length, N = number of non-pad target tokens in the batch, V = vocab,
Z = latent size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from textvae.core.kl_control import KLController, KLWeighting
from textvae.core.loop_config import KLScheduleConfig

# ----------------------------------------------------------------------------------------------
# Reconstruction


def sentence_index(lengths: Tensor, total: int | None = None) -> Tensor:
    """(N,) the sentence each target token belongs to, for tokens laid out sentence by sentence.

    ``total``: N = ``lengths.sum()`` when the caller knows it on the host; without it a GPU must
    sum the lengths and the host wait for the sum before it can size the output.
    """
    rows = torch.arange(len(lengths), device=lengths.device)  # (B,)
    return torch.repeat_interleave(rows, lengths, output_size=total)


# Logit elements that one chunk of :class:`_ChunkedTokenNLL` works on: 2.5 MiB in float32 (65 rows
# at V = 10,002), small enough to stay in a core's cache between the passes over it. Smaller
# (N, V) tensors fit in cache whole and go to the fused F.cross_entropy, which is then faster
# (0.62 against 0.86 ms for 700 x 419 bf16 logits).
NLL_CHUNK_ELEMENTS = 640 * 1024


class _ChunkedTokenNLL(torch.autograd.Function):
    """-log softmax(logits)[target] per row, computed a chunk of rows at a time (the CPU path).

    Why: ``F.cross_entropy(logits.float())`` makes an (N, V) float32 copy, an (N, V) log-softmax,
    an (N, V) zero-filled gradient and its (N, V) softmax backward, each a pass over main memory;
    on the CPU these passes cost more than the output layer's matrix multiply. Here each chunk is
    converted to float32, reduced and differentiated while it sits in cache, the forward keeps
    only the (N,) log-normaliser, and the gradient is written once, in the logits' dtype (what
    autocast's cast back to bf16 would give anyway). Measured on the PTB batch (700 x 10,002 bf16
    logits, 2-core Xeon): 9.9 ms against 15.3 ms for forward and backward (docs/performance.md).
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, targets: Tensor, chunk_rows: int) -> Tensor:
        # logits: (N, V) any float dtype; targets: (N,) -> (N,) in float32 (float64 if given)
        dtype = torch.promote_types(logits.dtype, torch.float32)
        log_norm = torch.empty(len(logits), dtype=dtype, device=logits.device)  # (N,)
        for start in range(0, len(logits), chunk_rows):
            rows = slice(start, start + chunk_rows)
            log_norm[rows] = torch.logsumexp(logits[rows].to(dtype), dim=1)
        target_logit = logits.gather(1, targets.unsqueeze(1)).squeeze(1).to(dtype)  # (N,)
        ctx.save_for_backward(logits, targets, log_norm)
        ctx.chunk_rows = chunk_rows
        return log_norm - target_logit

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        # d nll_i / d logits_ij = softmax_ij - [j = target_i], scaled by grad_i.
        logits, targets, log_norm = ctx.saved_tensors
        grad = grad.to(log_norm.dtype)  # (N,)
        grad_logits = torch.empty_like(logits)  # (N, V)
        for start in range(0, len(logits), ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            chunk = logits[rows].to(log_norm.dtype, copy=True)  # (R, V), a copy: edited in place
            chunk.sub_(log_norm[rows].unsqueeze(1)).exp_().mul_(grad[rows].unsqueeze(1))
            local = torch.arange(len(chunk), device=chunk.device)
            chunk[local, targets[rows]] -= grad[rows]
            grad_logits[rows] = chunk
        return grad_logits, None, None


def token_nll(logits: Tensor, targets: Tensor, *, chunk_rows: int | None = None) -> Tensor:
    """Per-token cross-entropy, -log softmax(logits)[target], in float32 for float32 or
    half-precision logits (float64 for float64).

    Args:
        logits: (N, V) scores, float32 or (under autocast) bfloat16/float16.
        targets: (N,) ids.
        chunk_rows: rows per chunk on the CPU (see :class:`_ChunkedTokenNLL`); default: as many
            as fit in :data:`NLL_CHUNK_ELEMENTS`, and no chunking when all of the logits do.

    Returns:
        (N,) NLL in nats. Differentiable once with respect to the logits.
    """
    if logits.device.type == "cpu" and (chunk_rows or logits.numel() > NLL_CHUNK_ELEMENTS):
        rows = chunk_rows or max(1, NLL_CHUNK_ELEMENTS // logits.shape[1])
        return _ChunkedTokenNLL.apply(logits, targets, rows)
    # On a GPU the fused cross-entropy kernel is one launch; chunking would add launches.
    dtype = torch.promote_types(logits.dtype, torch.float32)
    return F.cross_entropy(logits.to(dtype), targets, reduction="none")


def reconstruction_nll(logits: Tensor, targets: Tensor, lengths: Tensor) -> Tensor:
    """Per-sentence reconstruction NLL, summed over target tokens.

    Args:
        logits: (N, V) unnormalised scores for the non-pad target positions, sentence by
            sentence in batch order (the layout of ``SentenceVAE.decode``).
        targets: (N,) target ids in the same order.
        lengths: (B,) targets per sentence (words + end token); sums to N.

    Returns:
        (B,) NLL in nats per sentence.
    """
    nll = token_nll(logits, targets)  # (N,)
    rows = sentence_index(lengths, total=len(nll))  # (N,); N from the shape, not the device
    return nll.new_zeros(len(lengths)).index_add_(0, rows, nll)


# ----------------------------------------------------------------------------------------------
# KL weight schedules: step -> weight, pure functions of the step; and the one that is not, the
# KL set point (textvae.core.kl_control), which follows the KL the model had.


def constant_weight(step: int, *, max_weight: float = 1.0) -> float:
    """The same weight at every step."""
    return max_weight


def linear_weight(step: int, *, warmup_steps: int, max_weight: float = 1.0) -> float:
    """0 at step 0, rising linearly to ``max_weight`` at ``warmup_steps``, then constant."""
    return max_weight * min(1.0, step / warmup_steps)


def logistic_weight(step: int, *, k: float, x0: float, max_weight: float = 1.0) -> float:
    """Bowman et al. 2016: ``max_weight / (1 + exp(-k (step - x0)))``; half weight at ``x0``."""
    exponent = -k * (step - x0)
    if exponent > 700:  # exp overflows; the weight is 0 to double precision
        return 0.0
    return max_weight / (1.0 + math.exp(exponent))


def cyclical_weight(
    step: int, *, total_steps: int, n_cycles: int, ratio: float, max_weight: float = 1.0
) -> float:
    """Fu et al. 2019: ``n_cycles`` cycles over ``total_steps``. In each cycle the weight rises
    linearly from 0 to ``max_weight`` over the first ``ratio`` of the cycle, then stays there.
    After ``total_steps`` the weight stays at ``max_weight``."""
    if step >= total_steps:
        return max_weight
    period = total_steps / n_cycles
    phase = (step % period) / period  # in [0, 1)
    return max_weight * min(1.0, phase / ratio)


class KLSchedule(NamedTuple):
    """One kind of KL schedule (``train.kl.kind``): its weight at a step (None: the weight is
    no function of the step), the fields that fit its annealing into a span of steps
    (``train.kl.anneal_fraction``; None: nothing to fit), and, for a schedule that follows the
    KL, how to build its controller on the training device (None: a pure schedule)."""

    weight: Callable[[int, KLScheduleConfig], float] | None
    fit: Callable[[int], dict[str, Any]] | None
    controller: Callable[[KLScheduleConfig, torch.device], KLWeighting] | None = None


def _logistic_fit(span: int) -> dict[str, Any]:
    # 1 / (1 + exp(-k (span - x0))) = 0.99 with x0 = span / 2  =>  k = 2 ln 99 / span
    return {"x0": span // 2, "k": 2 * math.log(99) / span}


# Every kind, keyed as train.kl.kind spells it: a new schedule is a weight function and an entry.
KL_SCHEDULES: dict[str, KLSchedule] = {
    "constant": KLSchedule(lambda step, s: constant_weight(step, max_weight=s.max_weight), None),
    "linear": KLSchedule(
        lambda step, s: linear_weight(step, warmup_steps=s.warmup_steps, max_weight=s.max_weight),
        lambda span: {"warmup_steps": span}),
    "logistic": KLSchedule(
        lambda step, s: logistic_weight(step, k=s.k, x0=s.x0, max_weight=s.max_weight),
        _logistic_fit),
    "cyclical": KLSchedule(
        lambda step, s: cyclical_weight(step, total_steps=s.total_steps, n_cycles=s.n_cycles,
                                        ratio=s.ratio, max_weight=s.max_weight),
        lambda span: {"total_steps": span}),
    "target": KLSchedule(None, None, KLController.from_config),
}


def schedule_for_run(schedule: KLScheduleConfig, planned_steps: int) -> KLScheduleConfig:
    """The schedule with ``anneal_fraction`` turned into steps of a run of ``planned_steps``:
    the annealing ends at ``anneal_fraction * planned_steps`` (linear: the warm-up; logistic: the
    weight reaches 0.99 of its maximum there, centred half-way; cyclical: all cycles fit in it).
    A schedule without a fraction, or of a kind with nothing to fit, is returned as it is."""
    fit = KL_SCHEDULES[schedule.kind].fit
    if schedule.anneal_fraction is None or fit is None:
        return schedule
    span = max(1, round(schedule.anneal_fraction * planned_steps))
    return replace(schedule, anneal_fraction=None, **fit(span))


def fitted_steps(schedule: KLScheduleConfig) -> dict[str, Any]:
    """The fields :func:`schedule_for_run` sets for this schedule's kind, with their values."""
    fit = KL_SCHEDULES[schedule.kind].fit
    return {} if fit is None else {name: getattr(schedule, name) for name in fit(1)}


def kl_weight(step: int, schedule: KLScheduleConfig) -> float:
    """The KL weight at ``step`` under the configured schedule, a pure one (:func:`kl_weighting`
    drives every kind)."""
    weight = KL_SCHEDULES[schedule.kind].weight
    if weight is None:
        raise ValueError(f"train.kl.kind {schedule.kind} follows the KL of each step: its weight "
                         "is no function of the step (drive it with kl_weighting)")
    return weight(step, schedule)


class StepSchedule:
    """A pure schedule as a :class:`~textvae.core.kl_control.KLWeighting`: its weight is
    :func:`kl_weight` (a Python float), it observes nothing and keeps no state."""

    def __init__(self, schedule: KLScheduleConfig) -> None:
        self.schedule = schedule

    def weight(self, step: int) -> float:
        return kl_weight(step, self.schedule)

    def observe(self, kl: Tensor) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def kl_weighting(schedule: KLScheduleConfig, device: torch.device) -> KLWeighting:
    """The configured schedule as the trainer drives it: a controller on ``device`` for a kind
    that follows the KL, else the pure schedule."""
    controller = KL_SCHEDULES[schedule.kind].controller
    return StepSchedule(schedule) if controller is None else controller(schedule, device)


# ----------------------------------------------------------------------------------------------
# Free bits


def free_bits_kl(kl_per_dim: Tensor, target: float, mode: str = "dim") -> Tensor:
    """The KL term of the training objective with free bits, averaged over the batch.

    The KL is clamped from below at ``target`` nats, so that the optimiser gains nothing by
    pushing it lower (Kingma et al. 2016; the per-dimension form of Li et al. 2019). The batch
    average is taken before the clamp, as in those papers, so individual sentences may fall
    below the target.

    Args:
        kl_per_dim: (B, Z) KL per sentence and latent dimension.
        target: nats; per dimension (``mode="dim"``) or for the whole latent (``"total"``).
        mode: ``"dim"``: sum_d max(target, mean_b KL[b, d]); ``"total"``:
            max(target, mean_b sum_d KL[b, d]).

    Returns:
        A scalar.
    """
    if mode == "dim":
        return kl_per_dim.mean(0).clamp(min=target).sum()
    if mode == "total":
        return kl_per_dim.sum(1).mean().clamp(min=target)
    raise ValueError(f"free-bits mode must be 'dim' or 'total', got {mode!r}")


# ----------------------------------------------------------------------------------------------
# Word dropout


def word_dropout(
    inputs: Tensor,
    lengths: Tensor,
    p: float,
    *,
    unk_id: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Bowman et al. 2016: replace decoder input words by the unknown token with probability p.

    Position 0 (the start token) and positions at or beyond each sentence's length (padding)
    never change. ``p = 1`` gives the inputless decoder, which must rely on z alone.

    Args:
        inputs: (B, T) decoder inputs: start token, then words.
        lengths: (B,) the number of real positions per row (start token + words).
        p: replacement probability in [0, 1].
        unk_id: the unknown token's id.
        generator: optional seeded generator.

    Returns:
        (B, T) a new tensor; ``inputs`` is not modified.
    """
    if p <= 0.0:
        return inputs
    positions = torch.arange(inputs.shape[1], device=inputs.device)  # (T,)
    droppable = (positions > 0) & (positions < lengths[:, None])  # (B, T)
    draws = torch.rand(inputs.shape, generator=generator, device=inputs.device)
    return inputs.masked_fill(droppable & (draws < p), unk_id)


def word_deletion(
    tokens: Tensor,
    lengths: list[int],
    p: float,
    *,
    pad_id: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, list[int]]:
    """Shen et al. 2020 ("Educating text autoencoders"): delete each word of the encoder's input
    with probability p, so that the encoder must map a sentence and its perturbed neighbours to
    nearby codes (a denoising autoencoder). The decoder still reconstructs the whole sentence.

    Runs on the host (CPU tensors and Python lengths): the new lengths size the encoder's
    packing, and reading them from a GPU would make the training step wait for it.

    Args:
        tokens: (B, T) encoder input: words, then the end token, then padding (``ids[:, 1:]``).
        lengths: the B lengths (words + end token), as Python ints.
        p: deletion probability in [0, 1); the end token is never deleted.
        pad_id: the padding id written after each shortened row.
        generator: optional seeded CPU generator.

    Returns:
        ``(kept, kept_lengths)``: (B, T') rows with the surviving tokens in their order, then
        padding, T' the longest kept row; and the B new lengths (each >= 1).
    """
    if p <= 0.0:
        return tokens, list(lengths)
    batch, width = tokens.shape
    positions = torch.arange(width)  # (T,)
    length_col = torch.tensor(lengths)[:, None]  # (B, 1)
    draws = torch.rand((batch, width), generator=generator)  # (B, T)
    is_end = positions == length_col - 1  # (B, T): the end token
    keep = ((draws >= p) & (positions < length_col - 1)) | is_end  # (B, T)
    # Kept positions first, each group in its original order: sort on (dropped, position).
    order = torch.argsort((~keep).long() * width + positions, dim=1)  # (B, T)
    kept_lengths = keep.sum(1)  # (B,)
    new_width = int(kept_lengths.max())
    kept = tokens.gather(1, order)[:, :new_width]  # (B, T')
    kept = kept.masked_fill(positions[:new_width] >= kept_lengths[:, None], pad_id)
    return kept, kept_lengths.tolist()


# ----------------------------------------------------------------------------------------------
# The objective


class LossTerms(NamedTuple):
    """One batch's objective. Every entry except ``loss`` is detached, for logging.

    ``neg_elbo`` is the true negative ELBO at beta = 1 (reconstruction + KL), nats per sentence,
    whatever weight or free bits the training loss used.
    """

    loss: Tensor
    neg_elbo: Tensor
    reconstruction: Tensor
    kl: Tensor
    kl_weight: float | Tensor  # a () device tensor from a controller (kl_control), not yet read


def vae_objective(
    rec_nll: Tensor,
    kl_per_dim: Tensor | None,
    *,
    kl_weight: float | Tensor = 1.0,
    free_bits: float = 0.0,
    free_bits_mode: str = "dim",
) -> LossTerms:
    """Combine per-sentence terms into the training loss and the logged quantities.

    Args:
        rec_nll: (B,) reconstruction NLL per sentence.
        kl_per_dim: (B, Z) KL per sentence and dimension, or None for the LM baseline.
        kl_weight: the annealing weight (beta) on the KL term: a number, or a () tensor on the
            device that nothing here reads (a :class:`~textvae.core.kl_control.KLController`'s).
        free_bits: free-bits target in nats (0 disables it).
        free_bits_mode: ``"dim"`` or ``"total"`` (see :func:`free_bits_kl`).

    Returns:
        :class:`LossTerms`, each a per-sentence batch average.
    """
    reconstruction = rec_nll.mean()
    if kl_per_dim is None:
        kl = reconstruction.new_zeros(())
        train_kl = kl
    else:
        kl = kl_per_dim.sum(1).mean()
        train_kl = free_bits_kl(kl_per_dim, free_bits, free_bits_mode) if free_bits > 0 else kl
    loss = reconstruction + kl_weight * train_kl
    return LossTerms(
        loss=loss,
        neg_elbo=(reconstruction + kl).detach(),
        reconstruction=reconstruction.detach(),
        kl=kl.detach(),
        kl_weight=kl_weight,
    )
