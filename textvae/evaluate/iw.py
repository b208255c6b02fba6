"""The importance-weighted NLL of a sentence model over a split (Burda et al. 2016).

:func:`iw_nll` is the fast pass: length-sorted batches, one encoder pass per sentence, the K
samples of several sentences expanded into the batch dimension in chunks under a memory budget.
:func:`iw_nll_reference` is the simple protocol of He et al. 2019 (one sentence at a time,
samples in chunks of 100): the benchmark baseline and the test oracle. Both draw sentence i's
noise from a generator seeded by (seed, i) alone, so given the same seed they see the same z and
agree to float rounding. The bound itself is :func:`textvae.metrics.iw_nll_from_log_weights`.

Shape legend: S = sentences, K = importance samples, Z = latent size, R = decoder rows in a
chunk (sentence-sample pairs), T = padded length, V = vocabulary, N = non-pad target positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from textvae.data.batching import BucketBatchSampler, collate
from textvae.data.tokenizers import Tokenizer
from textvae.evaluate.settings import DEFAULT_IW_SAMPLES, DEFAULT_MEMORY_MB
from textvae.metrics import iw_log_weights, iw_nll_from_log_weights
from textvae.models.gaussian import kl_standard_normal, reparameterize
from textvae.models.sentence_vae import SentenceVAE
from textvae.objectives import sentence_index, token_nll

# On the CPU the decoder is compute-bound and larger chunks only fall out of cache: on the
# quickstart model (V = 419) chunks of 256-512 rows ran 1.6x faster than the ~5,000 rows the
# memory budget allows. On CUDA the budget alone sets the chunk.
CPU_MAX_CHUNK_ROWS = 512
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


def _chunk_rows(memory_mb: float, steps: int, vocab: int) -> int:
    """Decoder rows per chunk so that R x T x V float32 logits and their log-softmax stay under
    ``memory_mb``."""
    per_row = 2 * 4 * steps * vocab
    return max(1, int(memory_mb * 2**20) // per_row)


def _rows_log_likelihood(
    model: SentenceVAE, ids: Tensor, lengths: Tensor, z: Tensor | None
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
    model: SentenceVAE,
    ids: Sequence[Sequence[int]],
    tokenizer: Tokenizer,
    *,
    samples: int = DEFAULT_IW_SAMPLES,
    batch_size: int = 64,
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_rows: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = False,
) -> IWResult:
    """Importance-weighted NLL of every sentence (Burda et al. 2016), fast.

    Sentences are batched by length (sorted, so batches carry almost no padding) and encoded once
    per batch. Each sentence's K samples become K decoder rows; the B x K rows of a batch are
    decoded ``chunk_rows`` at a time (by default as many as keep R x T x V logits under
    ``memory_mb``, and at most :data:`CPU_MAX_CHUNK_ROWS` on the CPU), so memory stays bounded
    at any K. The log weights of each sentence are
    collected and reduced with one logsumexp at the end.

    Args:
        model: the model (its mode is restored afterwards; evaluation runs in eval mode).
        ids: S token-id lists without bos/eos, each non-empty.
        tokenizer: gives the bos, eos and pad ids.
        samples: K >= 1 (ignored for the LM baseline, whose NLL is exact).
        batch_size: sentences per encoder pass.
        memory_mb: budget for one chunk's logits, used when ``chunk_rows`` is None.
        chunk_rows: decoder rows per call, overriding ``memory_mb``.
        device: where to compute.
        seed: sentence i's noise is :func:`sentence_noise` ``(seed, i, K, Z)``.
        progress: show a tqdm bar over sentences.

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
    vocab = model.output.out_features
    lengths_all = [len(x) + 1 for x in ids]
    out = {name: torch.zeros(s, dtype=torch.float64)
           for name in ("iw_nll", "neg_elbo", "reconstruction", "kl")}
    latent = {}
    if model.is_vae:
        latent = {name: torch.zeros(s, model.latent_dim) for name in ("mu", "logvar", "z")}
    bar = tqdm(total=s, disable=not progress, desc=f"IW-NLL K={k}", unit="sent", dynamic_ncols=True)
    for indices in BucketBatchSampler(lengths_all, batch_size, shuffle=False).batches(0):
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
        rows = chunk_rows or _chunk_rows(memory_mb, batch.ids.shape[1] - 1, vocab)
        if chunk_rows is None and device.type == "cpu":
            rows = min(rows, CPU_MAX_CHUNK_ROWS)
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
    model: SentenceVAE,
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
    for i in tqdm(range(len(ids)), disable=not progress, desc="IW-NLL reference", unit="sent"):
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

