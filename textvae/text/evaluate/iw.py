"""The importance-weighted NLL of a sentence model over a split (Burda et al. 2016).

:func:`iw_nll` is the fast pass: length-sorted passes of sentences, one encoder pass per sentence,
the K samples of the pass's sentences flattened into sentence-sample rows and decoded in chunks
(a chunk may span sentences) sized to the device by :func:`chunk_rule`.
:func:`iw_nll_reference` is the simple protocol of He et al. 2019 (one sentence at a time,
samples in chunks of 100): the benchmark baseline and the test oracle. Both draw sentence i's
noise from a generator seeded by (seed, i) alone, so given the same seed they see the same z and
agree to float rounding, whatever the passes and chunks. The bound itself is
:func:`textvae.core.metrics.iw_nll_from_log_weights`.

Shape legend: S = sentences, B = sentences in a pass, K = importance samples, Z = latent size,
R = decoder rows in a chunk (sentence-sample pairs), T = padded length, V = vocabulary,
N = non-pad target positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from textvae.core.gaussian import kl_standard_normal, reparameterize
from textvae.core.metrics import iw_log_weights, iw_nll_from_log_weights
from textvae.core.objectives import sentence_index, token_nll
from textvae.core.progress import Progress, tracked
from textvae.text.data.batching import collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.evaluate.settings import DEFAULT_IW_SAMPLES, DEFAULT_MEMORY_MB
from textvae.text.models.contracts import UnconditionedSentenceModel

# On the CPU the decoder is compute-bound and larger chunks only fall out of cache: on the
# quickstart model (V = 419) chunks of 256-512 rows ran 1.6x faster than the ~5,000 rows the
# memory budget allows. On CUDA the budget alone sets the chunk.
CPU_MAX_CHUNK_ROWS = 512
# On CUDA the default budget is this share of the memory free for tensors (the driver's free
# bytes plus what PyTorch's cache holds unused). The model is already on the device, so its
# weights are not in it; the other half leaves room for the decoder's hidden states, cuDNN's
# workspace and fragmentation.
CUDA_FREE_FRACTION = 0.5
# Bytes per logit of a chunk: the float32 logits and their float32 log-softmax.
BYTES_PER_LOGIT = 8
# At most this many logits (R x T x V) per chunk, on any device: kernels index such tensors with
# 32-bit offsets, and a larger chunk gains nothing (8,500 rows of PTB sentences at K = 500 are
# already a (215,000 x 256) x (256 x 10,002) output multiply).
MAX_CHUNK_LOGITS = 2**31 - 1
MIN_PASS_SENTENCES = 64  # sentences per encoder pass at least, when batch_size is not given
REFERENCE_CHUNK = 100  # samples per decoder call in He et al.'s protocol
# Sentence i of seed s draws from the generator seeded (s * stride + i) mod 2^32 (the CPU
# generator keeps 32 bits of its seed): distinct for the sentences of one run.
NOISE_SEED_STRIDE = 1_000_003


def sentence_noise(seed: int, index: int, samples: int, latent_dim: int) -> Tensor:
    """(K, Z) standard-normal noise for sentence ``index``: a function of (seed, index) alone, so
    every batching of the same sentences sees the same z. Drawn on the CPU (it is small) and moved
    by the caller, which also makes CPU and CUDA runs draw the same numbers."""
    generator = torch.Generator().manual_seed((seed * NOISE_SEED_STRIDE + index) % 2**32)
    return torch.randn(samples, latent_dim, generator=generator)


@contextmanager
def ieee_float32_rnns(device: torch.device) -> Iterator[None]:
    """Run cuDNN's float32 RNNs in IEEE float32 inside the block, on CUDA.

    By default PyTorch lets cuDNN compute float32 RNNs in TF32 (a 10-bit mantissa) on Ampere
    and later GPUs. The bound is meant to agree with the CPU's to 1e-3 nats per sentence and
    evaluation stays float32 on purpose (docs/performance.md), so the decoder runs in full
    float32 here; the setting is restored afterwards.
    """
    cudnn = torch.backends.cudnn
    rnn = getattr(cudnn, "rnn", None)
    if device.type != "cuda":
        yield
    elif rnn is not None and hasattr(rnn, "fp32_precision"):  # torch >= 2.9
        saved = rnn.fp32_precision
        rnn.fp32_precision = "ieee"
        try:
            yield
        finally:
            rnn.fp32_precision = saved
    else:
        saved = cudnn.allow_tf32
        cudnn.allow_tf32 = False
        try:
            yield
        finally:
            cudnn.allow_tf32 = saved


@dataclass(frozen=True)
class ChunkRule:
    """How many decoder rows one chunk holds: as many as keep their R x T x V logits and
    log-softmax under ``budget_bytes`` and the logits under :data:`MAX_CHUNK_LOGITS`, at least
    1 and at most ``max_rows`` (None: no cap). With ``fill_passes`` an encoder pass takes as many
    sentences as fill one chunk (:func:`_passes`)."""

    budget_bytes: int
    max_rows: int | None = None
    fill_passes: bool = True

    def rows(self, steps: int, vocab: int) -> int:
        """Rows per chunk for sentences of ``steps`` target positions and a ``vocab``-way output."""
        logits = steps * vocab  # per row
        rows = max(1, min(self.budget_bytes // (BYTES_PER_LOGIT * logits),
                          MAX_CHUNK_LOGITS // logits))
        return rows if self.max_rows is None else min(rows, self.max_rows)


def chunk_rule(device: torch.device | str, memory_mb: float | None = None) -> ChunkRule:
    """The one place that sizes IW-NLL chunks to the device.

    - ``memory_mb`` given: that budget, on any device (``--memory-mb``);
    - CUDA: :data:`CUDA_FREE_FRACTION` of the memory free for tensors,
      ``torch.cuda.mem_get_info`` plus PyTorch's cached but unallocated bytes;
    - CPU: :data:`~textvae.text.evaluate.settings.DEFAULT_MEMORY_MB`.

    On the CPU chunks are also capped at :data:`CPU_MAX_CHUNK_ROWS` rows (cache-sized), whatever
    the budget, and passes stay :data:`MIN_PASS_SENTENCES` sentences: on the quickstart model at
    K = 5, passes that filled the 512-row chunk ran 10% slower than passes of 64 sentences.
    """
    device = torch.device(device)
    if memory_mb is not None:
        budget = int(memory_mb * 2**20)
    elif device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        budget = int(CUDA_FREE_FRACTION * (free + cached))
    else:
        budget = int(DEFAULT_MEMORY_MB * 2**20)
    cpu = device.type == "cpu"
    return ChunkRule(budget, CPU_MAX_CHUNK_ROWS if cpu else None, fill_passes=not cpu)


def _passes(lengths: Sequence[int], samples: int, vocab: int, rule: ChunkRule,
            batch_size: int | None) -> list[list[int]]:
    """Sentence indices per encoder pass, in length order (stable, so ties keep input order).

    With ``batch_size``, passes of exactly that many sentences. Without, a pass takes
    :data:`MIN_PASS_SENTENCES` sentences, or (``rule.fill_passes``) more while its B x K rows
    still fit one chunk at its longest sentence, so small K and short sentences fill a chunk."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if batch_size is not None:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    passes: list[list[int]] = []
    current: list[int] = []
    for i in order:  # ascending length: sentence i is the longest of the pass so far
        limit = MIN_PASS_SENTENCES
        if rule.fill_passes:
            limit = max(limit, rule.rows(lengths[i], vocab) // samples)
        if len(current) + 1 > limit:
            passes.append(current)
            current = []
        current.append(i)
    if current:
        passes.append(current)
    return passes


def _rows_log_likelihood(
    model: UnconditionedSentenceModel[Any], ids: Tensor, lengths: Tensor, z: Tensor | None
) -> Tensor:
    """log p(x_r | z_r) for each row, teacher-forced. ids: (R, T+1); lengths: (R,); z: (R, Z).
    Returns (R,) float64."""
    logits = model.decode(ids[:, :-1], lengths, z)  # (N, V), only at non-pad positions
    steps = torch.arange(ids.shape[1] - 1, device=ids.device)
    targets = ids[:, 1:][steps.unsqueeze(0) < lengths.unsqueeze(1)]  # (N,)
    token_ll = -token_nll(logits, targets)  # (N,)
    row = sentence_index(lengths)  # (N,)
    return token_ll.double().new_zeros(len(lengths)).index_add_(0, row, token_ll.double())


class IWResult(dict):
    """What :func:`iw_nll` returns, a dict of per-sentence tensors (all float64, on the CPU, in
    the order of the input sentences):

    - ``iw_nll`` (S,): the K-sample importance-weighted NLL (for the LM baseline: the exact NLL);
    - ``neg_elbo`` (S,), ``reconstruction`` (S,), ``kl`` (S,): the negative ELBO at beta = 1 and
      its parts, the reconstruction term averaged over the same K samples (a K-sample Monte Carlo
      estimate, lower-variance than one sample; KL in closed form);
    - ``mu``, ``logvar``, ``z`` (S, Z): posterior parameters and the first sample of each
      sentence (one z per sentence, for the mutual information). None for the LM baseline.
    """


@torch.no_grad()
def iw_nll(
    model: UnconditionedSentenceModel[Any],
    ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    *,
    samples: int = DEFAULT_IW_SAMPLES,
    batch_size: int | None = None,
    memory_mb: float | None = None,
    chunk_rows: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
    desc: str | None = None,
) -> IWResult:
    """Importance-weighted NLL of every sentence (Burda et al. 2016), fast.

    Sentences are sorted by length (so passes carry almost no padding) and encoded once per
    pass. Each sentence's K samples become K decoder rows; the B x K rows of a pass, sentence
    after sentence, are decoded ``chunk_rows`` at a time, a chunk spanning sentences where it
    can. By default :func:`chunk_rule` sizes the chunks (the free memory on CUDA, 256 MB and at
    most :data:`CPU_MAX_CHUNK_ROWS` rows on the CPU); a pass holds :data:`MIN_PASS_SENTENCES`
    sentences, on CUDA more if they fill one chunk, so memory stays bounded at any K and a GPU
    is filled at any K. The log weights of each sentence are reduced with one logsumexp.
    None of this changes the result beyond float rounding: each sentence's noise is drawn on its
    own (:func:`sentence_noise`).

    Args:
        model: a :class:`~textvae.text.models.contracts.UnconditionedSentenceModel` (its mode is
            restored afterwards; evaluation runs in eval mode).
        ids: S token-id lists without bos/eos, each non-empty.
        tokenizer: gives the bos, eos and pad ids.
        samples: K >= 1 (ignored for the LM baseline, whose NLL is exact).
        batch_size: sentences per encoder pass (default: :data:`MIN_PASS_SENTENCES`, on CUDA
            more if they fill one chunk).
        memory_mb: budget for one chunk's logits, overriding the device's default
            (:func:`chunk_rule`); used when ``chunk_rows`` is None.
        chunk_rows: decoder rows per call, overriding ``memory_mb``.
        device: where to compute.
        seed: sentence i's noise is :func:`sentence_noise` ``(seed, i, K, Z)``.
        progress: show the progress over sentences (:mod:`textvae.core.progress`).
        desc: what the progress shows (default ``IW-NLL K=...``).

    Returns:
        An :class:`IWResult`.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    s = len(ids)
    k = samples if model.is_vae else 1
    vocab = model.vocab_size
    rule = chunk_rule(device, memory_mb)
    if chunk_rows:  # a fixed row count: a rule whose cap always binds (below the logit cap)
        rule = ChunkRule(2**62, chunk_rows, fill_passes=rule.fill_passes)
    lengths_all = [len(x) + 1 for x in ids]
    out = {name: torch.zeros(s, dtype=torch.float64)
           for name in ("iw_nll", "neg_elbo", "reconstruction", "kl")}
    latent = {}
    if model.is_vae:
        latent = {name: torch.zeros(s, model.latent_dim) for name in ("mu", "logvar", "z")}
    bar = Progress(s, desc=desc or f"IW-NLL K={k}", unit="sent", enabled=progress)
    with ieee_float32_rnns(device):
        for indices in _passes(lengths_all, k, vocab, rule, batch_size):
            batch = collate([ids[i] for i in indices], bos_id=tokenizer.bos_id,
                            eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id).to(device)
            b = len(indices)
            index = torch.tensor(indices)
            if not model.is_vae:
                ll = _rows_log_likelihood(model, batch.ids, batch.lengths, None).cpu()  # (B,)
                out["iw_nll"][index] = -ll
                out["neg_elbo"][index] = -ll
                out["reconstruction"][index] = -ll
                bar.update(b)
                continue
            mu, logvar = model.encode(batch.ids[:, 1:], batch.lengths)  # (B, Z) each
            eps = torch.stack([sentence_noise(seed, i, k, model.latent_dim) for i in indices])
            eps = eps.to(device)  # (B, K, Z)
            z = reparameterize(mu.unsqueeze(1).expand_as(eps), logvar.unsqueeze(1).expand_as(eps), eps=eps)
            log_px = torch.empty(b * k, dtype=torch.float64, device=device)  # row r = (r // K, r % K)
            rows = rule.rows(batch.ids.shape[1] - 1, vocab)
            flat_z = z.reshape(b * k, -1)  # (B*K, Z), sentence-major
            for start in range(0, b * k, rows):
                stop = min(start + rows, b * k)
                sent = torch.arange(start, stop, device=device) // k  # (R,) sentence of each row
                lengths = batch.lengths[sent]  # (R,)
                # Cut the chunk to its own longest sentence: bos + targets, (R, T_chunk + 1).
                rows_ids = batch.ids[sent, : int(lengths.max()) + 1]
                log_px[start:stop] = _rows_log_likelihood(model, rows_ids, lengths, flat_z[start:stop])
            log_px = log_px.view(b, k)  # (B, K)
            log_w = iw_log_weights(log_px, z.double(), mu.double(), logvar.double())  # (B, K)
            kl = kl_standard_normal(mu.double(), logvar.double()).sum(1)  # (B,)
            out["iw_nll"][index] = iw_nll_from_log_weights(log_w).cpu()
            out["reconstruction"][index] = -log_px.mean(1).cpu()
            out["kl"][index] = kl.cpu()
            out["neg_elbo"][index] = (-log_px.mean(1) + kl).cpu()
            latent["mu"][index] = mu.float().cpu()
            latent["logvar"][index] = logvar.float().cpu()
            latent["z"][index] = z[:, 0].float().cpu()
            bar.update(b)
    bar.close()
    model.train(was_training)
    return IWResult(**out, mu=latent.get("mu"), logvar=latent.get("logvar"), z=latent.get("z"))


@torch.no_grad()
def iw_nll_reference(
    model: UnconditionedSentenceModel[Any],
    ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    *,
    samples: int = DEFAULT_IW_SAMPLES,
    chunk: int = REFERENCE_CHUNK,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> Tensor:
    """The importance-weighted NLL by the protocol of He et al. 2019: one sentence at a time,
    its samples decoded ``chunk`` at a time. Slow and simple: the benchmark baseline for
    :func:`iw_nll` and its test oracle (same noise for the same seed).

    Returns:
        (S,) float64 NLL in nats per sentence, on the CPU.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    result = torch.zeros(len(ids), dtype=torch.float64)
    for i in tracked(range(len(ids)), desc="IW-NLL reference", unit="sent", enabled=progress):
        batch = collate([ids[i]], bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id,
                        pad_id=tokenizer.pad_id).to(device)
        if not model.is_vae:
            result[i] = -_rows_log_likelihood(model, batch.ids, batch.lengths, None)[0].cpu()
            continue
        mu, logvar = model.encode(batch.ids[:, 1:], batch.lengths)  # (1, Z) each
        eps = sentence_noise(seed, i, samples, model.latent_dim).to(device)  # (K, Z)
        log_w = []
        for start in range(0, samples, chunk):
            noise = eps[start : start + chunk]  # (C, Z)
            z = reparameterize(mu.expand_as(noise), logvar.expand_as(noise), eps=noise)  # (C, Z)
            c = z.shape[0]
            log_px = _rows_log_likelihood(
                model, batch.ids.expand(c, -1), batch.lengths.expand(c), z
            )  # (C,)
            log_w.append(iw_log_weights(log_px.unsqueeze(0), z.double().unsqueeze(0),
                                        mu.double(), logvar.double())[0])  # (C,)
        result[i] = iw_nll_from_log_weights(torch.cat(log_w)).cpu()
    model.train(was_training)
    return result

