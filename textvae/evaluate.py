"""Evaluation of a trained sentence VAE: likelihood bounds, latent usage, reconstruction, diversity.

Every definition follows ../shared/CONVENTIONS.md. The module has three layers:

1. Pure estimators on tensors (no model): importance weights and the importance-weighted NLL
   (Burda et al. 2016), mutual information over the whole evaluation set (Hoffman & Johnson
   2016; the estimator of He et al. 2019), and the text metrics (corpus BLEU via sacrebleu,
   distinct-n of Li et al. 2016, self-BLEU of Zhu et al. 2018).
2. Model-level passes: :func:`iw_nll` (fast: length-sorted batches, one encoder pass per
   sentence, the K samples of several sentences expanded into the batch dimension in chunks
   under a memory budget) and :func:`iw_nll_reference` (the simple protocol of He et al. 2019:
   one sentence at a time, samples in chunks of 100), which is the benchmark baseline and the
   test oracle. Both draw sentence i's noise from a generator seeded by (seed, i) alone, so given
   the same seed they see the same z and agree to float rounding.
3. :func:`evaluate`: the whole report for ``textvae evaluate``, and :func:`format_report`.

Shape legend: S = sentences, K = importance samples, Z = latent size, R = decoder rows in a
chunk (sentence-sample pairs), T = padded length, V = vocabulary, N = non-pad target positions.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from textvae.data.batching import BucketBatchSampler, collate
from textvae.data.tokenizers import Tokenizer
from textvae.errors import TextVAEError
from textvae.metrics import active_units, perplexity
from textvae.models.gaussian import kl_standard_normal, log_normal, log_standard_normal
from textvae.models.sentence_vae import SentenceVAE
from textvae.objectives import sentence_index, token_nll

if TYPE_CHECKING:
    from textvae.api import TextVAE

__all__ = [
    "DEFAULT_IW_SAMPLES",
    "distinct_n",
    "evaluate",
    "format_report",
    "iw_log_weights",
    "iw_nll",
    "iw_nll_from_log_weights",
    "iw_nll_reference",
    "mutual_information",
    "reconstruction_bleu",
    "self_bleu",
]

DEFAULT_IW_SAMPLES = 500
DEFAULT_MEMORY_MB = 256  # budget for one chunk's logits and their log-softmax
# On the CPU the decoder is compute-bound and larger chunks only fall out of cache: on the
# quickstart model (V = 419) chunks of 256-512 rows ran 1.6x faster than the ~5,000 rows the
# memory budget allows. On CUDA the budget alone sets the chunk.
CPU_MAX_CHUNK_ROWS = 512
REFERENCE_CHUNK = 100  # samples per decoder call in He et al.'s protocol
# Sentence i of seed s draws from the generator seeded (s * stride + i) mod 2^32 (the CPU
# generator keeps 32 bits of its seed): distinct for the sentences of one run.
NOISE_SEED_STRIDE = 1_000_003


# ----------------------------------------------------------------------------------------------
# 1. Pure estimators


def iw_log_weights(log_px_given_z: Tensor, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Log importance weights ``log p(x|z_k) + log p(z_k) - log q(z_k|x)`` with p(z) = N(0, I).

    Args:
        log_px_given_z: (..., K) log-likelihood of each x under each of its samples.
        z: (..., K, Z) the samples, drawn from q(z|x).
        mu: (..., Z) posterior means of q(z|x).
        logvar: (..., Z) posterior log-variances.

    Returns:
        (..., K) log weights.
    """
    log_q = log_normal(z, mu.unsqueeze(-2), logvar.unsqueeze(-2))  # (..., K)
    return log_px_given_z + log_standard_normal(z) - log_q


def iw_nll_from_log_weights(log_weights: Tensor) -> Tensor:
    """Burda et al. 2016: ``-log (1/K) sum_k w_k`` from (..., K) log weights; returns (...,).

    It is an upper bound on -log p(x) in expectation, equal to the negative ELBO at K = 1, and
    tightens as K grows.
    """
    k = log_weights.shape[-1]
    return math.log(k) - torch.logsumexp(log_weights, dim=-1)


def mutual_information(mu: Tensor, logvar: Tensor, z: Tensor, *, chunk: int = 256) -> float:
    """I_q(x; z) = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)], in nats (CONVENTIONS.md).

    The aggregate posterior is the mixture of the posteriors of all S rows,
    ``log q(z_i) = logsumexp_j log q(z_i | x_j) - log S``, and each row contributes one sample
    ``z_i ~ q(z|x_i)`` (the estimator of He et al. 2019, over the whole set rather than a batch).
    Rows of the (S, S) matrix of log densities are computed ``chunk`` at a time, in float64, so
    memory is O(chunk * S). A collapsed model can give a slightly negative value; it is returned
    as computed.

    Args:
        mu: (S, Z) posterior means.
        logvar: (S, Z) posterior log-variances.
        z: (S, Z) one sample per row, z[i] ~ q(z | x_i).
        chunk: rows of the density matrix per step.

    Returns:
        The estimate, a float.
    """
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    s = mu.shape[0]
    if s == 0:
        raise ValueError("mutual_information needs at least one row")
    inv_var = torch.exp(-logvar)  # (S, Z)
    # log N(z_i; mu_j, var_j) = c_j - 0.5 * sum_d (z_id^2 inv_jd - 2 z_id mu_jd inv_jd), with
    # c_j = -0.5 * sum_d (log 2pi + logvar_jd + mu_jd^2 inv_jd): two matmuls per chunk.
    const = -0.5 * (math.log(2 * math.pi) + logvar + mu.pow(2) * inv_var).sum(1)  # (S,)
    log_q_aggregate = []
    for start in range(0, s, chunk):
        zc = z[start : start + chunk]  # (C, Z)
        quad = zc.pow(2) @ inv_var.T - 2.0 * zc @ (mu * inv_var).T  # (C, S)
        log_dens = const.unsqueeze(0) - 0.5 * quad  # (C, S): log q(z_i | x_j)
        log_q_aggregate.append(torch.logsumexp(log_dens, dim=1) - math.log(s))  # (C,)
    log_q_own = log_normal(z, mu, logvar)  # (S,): log q(z_i | x_i)
    return float((log_q_own - torch.cat(log_q_aggregate)).mean())


def distinct_n(sentences: Sequence[Sequence[str]], n: int) -> float:
    """Li et al. 2016: unique n-grams / total n-grams over all token lists (0 if there are none)."""
    grams = [tuple(toks[i : i + n]) for toks in sentences for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:  # pragma: no cover - it is a declared dependency
        raise TextVAEError("BLEU needs sacrebleu: pip install sacrebleu") from None
    return sacrebleu


def reconstruction_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of decodes against their inputs, one reference each.

    sacrebleu runs with ``tokenize="none"``: the texts are already tokenized (split on spaces,
    as the model saw them), so re-tokenizing would change what counts as a word.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu = _sacrebleu().corpus_bleu(
        list(hypotheses), [list(references)], tokenize="none", force=True
    )
    return float(bleu.score)


BLEU_MAX_ORDER = 4


def _ngram_counts(sentence: str) -> tuple[Counter, int]:
    """n-gram counts, n = 1..4, and the length of a whitespace-tokenized sentence (what sacrebleu
    extracts with ``tokenize="none"``)."""
    tokens = sentence.split()
    grams = Counter(tuple(tokens[i : i + n]) for n in range(1, BLEU_MAX_ORDER + 1)
                    for i in range(len(tokens) - n + 1))
    return grams, len(tokens)


def self_bleu(
    sentences: Sequence[str], *, max_hypotheses: int = 500, seed: int = 0, progress: bool = False
) -> float:
    """Zhu et al. 2018 (Texygen): the mean sentence BLEU-4 (0-100) of each sentence against all
    the others as references; high means the samples repeat each other.

    At most ``max_hypotheses`` sentences, a seeded random subset, serve as hypotheses; each is
    scored against every other sentence of the full list. The score is sacrebleu's sentence BLEU
    (``tokenize="none"``, exponential smoothing, effective order), but computed from shared
    statistics: a reference set's clipping count for an n-gram is its largest count in any one
    reference, so keeping each n-gram's two largest counts (and whose the largest is) gives the
    count over "all sentences but i" for every i at once, and a table of lengths gives the
    closest reference length. That makes it linear in the number of sentences instead of
    quadratic (sacrebleu.sentence_score with 999 references per call is minutes for 500
    hypotheses); tests check it equals sacrebleu's own computation.
    """
    if len(sentences) < 2:
        return 0.0
    bleu = _sacrebleu().metrics.BLEU
    stats = [_ngram_counts(s) for s in sentences]
    top: dict[tuple[str, ...], list[int]] = {}  # n-gram -> [largest, its owner, second largest]
    for owner, (grams, _) in enumerate(stats):
        for gram, count in grams.items():
            best = top.get(gram)
            if best is None:
                top[gram] = [count, owner, 0]
            elif count > best[0]:
                top[gram] = [count, owner, best[0]]
            elif count > best[2]:
                best[2] = count
    lengths = Counter(length for _, length in stats)
    count = min(max_hypotheses, len(sentences))
    picked = sorted(random.Random(seed).sample(range(len(sentences)), count))
    scores = []
    for i in tqdm(picked, disable=not progress, desc="self-BLEU", unit="sent", leave=False):
        grams, hyp_len = stats[i]
        correct, total = [0] * BLEU_MAX_ORDER, [0] * BLEU_MAX_ORDER
        for gram, hyp_count in grams.items():
            largest, owner, second = top[gram]
            total[len(gram) - 1] += hyp_count
            correct[len(gram) - 1] += min(hyp_count, second if owner == i else largest)
        # The closest reference length among the others (ties: the shorter), as sacrebleu picks.
        ref_len = min((length for length, n in lengths.items()
                       if n > (1 if length == hyp_len else 0)),
                      key=lambda length: (abs(length - hyp_len), length))
        scores.append(bleu.compute_bleu(correct, total, hyp_len, ref_len, smooth_method="exp",
                                        effective_order=True).score)
    return sum(scores) / len(scores)


# ----------------------------------------------------------------------------------------------
# 2. Model-level passes


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
        z = mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps.to(device)  # (B, K, Z)
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
            z = mu + torch.exp(0.5 * logvar) * eps[start : start + chunk]  # (C, Z)
            c = z.shape[0]
            log_px = _rows_log_likelihood(
                model, batch.ids.expand(c, -1), batch.lengths.expand(c), z
            )  # (C,)
            log_w.append(iw_log_weights(log_px.unsqueeze(0), z.double().unsqueeze(0),
                                        mu.double(), logvar.double())[0])  # (C,)
        result[i] = iw_nll_from_log_weights(torch.cat(log_w)).cpu()
    model.train(was_training)
    return result


# ----------------------------------------------------------------------------------------------
# 3. The report


def evaluate(
    tv: TextVAE,
    ids: Sequence[Sequence[int]],
    *,
    split: str = "test",
    samples: int = DEFAULT_IW_SAMPLES,
    batch_size: int = 64,
    memory_mb: float = DEFAULT_MEMORY_MB,
    seed: int = 0,
    diversity_samples: int = 1000,
    self_bleu_hypotheses: int = 500,
    max_len: int = 64,
    quality: bool = True,
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Evaluate a loaded model on tokenized sentences (one split).

    Args:
        tv: the loaded model.
        ids: S token-id lists (without bos/eos) of the evaluation split, all of it.
        split: the split's name, recorded in the report.
        samples: K for the importance-weighted NLL.
        batch_size: sentences per encoder pass.
        memory_mb: memory budget for one decoder chunk's logits.
        seed: seeds the posterior samples, the prior samples and the self-BLEU subset.
        diversity_samples: greedy decodes of z ~ N(0, I) for distinct-n and self-BLEU.
        self_bleu_hypotheses: at most this many of them are scored against the others.
        max_len: most generated tokens per decode (reconstruction and prior samples).
        quality: add the grammar quality report when the model was trained on the built-in
            grammar corpus.
        progress: show progress bars.
        log: where one-line progress notes go.

    Returns:
        A JSON-ready dict with sections ``settings``, ``likelihood``, ``per_sentence`` (the
        IW-NLL, for the LM the exact NLL, of each sentence in input order), ``latent`` (VAE only),
        ``reconstruction`` (VAE only), ``diversity``, ``grammar_quality`` (grammar corpus only)
        and ``timing``. Units are in the key names: nats per sentence, perplexities labelled by
        what they divide by, BLEU on sacrebleu's 0-100 scale.
    """
    if not ids:
        raise TextVAEError(f"the {split} split has no sentences to evaluate")
    model, tok = tv.model, tv.tokenizer
    texts = [tok.decode(x) for x in ids]  # the sentences as the model sees them (<unk> mapped)
    target_tokens = sum(len(x) + 1 for x in ids)  # words (tokens) + one eos per sentence
    words = sum(len(t.split()) for t in texts)
    report: dict[str, Any] = {
        "settings": {
            "checkpoint": None if tv.path is None else str(tv.path), "split": split,
            "sentences": len(ids), "target_tokens_incl_eos": target_tokens, "words": words,
            "iw_samples": samples if model.is_vae else None, "seed": seed,
            "device": str(tv.device), "model_type": tv.model_type,
        },
    }
    timing: dict[str, float] = {}

    start = time.perf_counter()
    res = iw_nll(model, ids, tok, samples=samples, batch_size=batch_size, memory_mb=memory_mb,
                 device=tv.device, seed=seed, progress=progress)
    timing["iw_nll_seconds"] = time.perf_counter() - start
    timing["iw_sentences_per_second"] = len(ids) / max(timing["iw_nll_seconds"], 1e-9)
    total_iw = float(res["iw_nll"].sum())
    total_elbo = float(res["neg_elbo"].sum())
    s = len(ids)
    likelihood = {
        "neg_elbo_nats_per_sentence": total_elbo / s,
        "reconstruction_nats_per_sentence": float(res["reconstruction"].sum()) / s,
        "kl_nats_per_sentence": float(res["kl"].sum()) / s,
        "iw_nll_nats_per_sentence": total_iw / s,
        "ppl_per_token_incl_eos": perplexity(total_iw, target_tokens),
        "ppl_per_word_excl_eos": perplexity(total_iw, words),
        "ppl_elbo_bound_per_token_incl_eos": perplexity(total_elbo, target_tokens),
    }
    if not model.is_vae:  # the LM's likelihood is exact: no bound, no KL
        likelihood = {
            "nll_nats_per_sentence": total_iw / s,
            "ppl_per_token_incl_eos": perplexity(total_iw, target_tokens),
            "ppl_per_word_excl_eos": perplexity(total_iw, words),
        }
    report["likelihood"] = likelihood
    # Per-sentence values, so two models evaluated on the same sentences can be compared pairwise
    # (the paired difference has a far smaller standard error than either mean).
    report["per_sentence"] = {"iw_nll_nats": [round(float(v), 4) for v in res["iw_nll"]]}
    log(f"likelihood done ({timing['iw_nll_seconds']:.1f} s)")

    if model.is_vae:
        report["latent"] = {
            "mutual_information_nats": mutual_information(res["mu"], res["logvar"], res["z"]),
            "active_units": active_units(res["mu"]),
            "latent_dim": model.latent_dim,
        }
        start = time.perf_counter()
        from textvae.quality import reconstruction_accuracy

        decodes = tv.decode_ids(res["mu"].to(tv.device), method="greedy", max_len=max_len)
        ended = [len(d) < max_len for d in decodes]
        acc = reconstruction_accuracy(ids, decodes, decodes_ended=ended)
        report["reconstruction"] = {
            "bleu": reconstruction_bleu([tok.decode(d) for d in decodes], texts),
            "exact_match": acc["exact_match"],
            "token_accuracy": acc["token_accuracy"],
        }
        timing["reconstruction_seconds"] = time.perf_counter() - start
        log(f"reconstruction done ({timing['reconstruction_seconds']:.1f} s)")

    start = time.perf_counter()
    prior = tv.sample(diversity_samples, seed=seed, max_len=max_len)  # greedy for a VAE
    tokens = [t.split() for t in prior]
    report["diversity"] = {
        "samples": diversity_samples,
        "decoding": "greedy from z ~ N(0, I)" if model.is_vae else "ancestral sampling, T = 1",
        "distinct_1": distinct_n(tokens, 1),
        "distinct_2": distinct_n(tokens, 2),
        "self_bleu": self_bleu(prior, max_hypotheses=self_bleu_hypotheses, seed=seed,
                               progress=progress),
        "self_bleu_hypotheses": min(self_bleu_hypotheses, diversity_samples),
    }
    timing["diversity_seconds"] = time.perf_counter() - start
    log(f"diversity done ({timing['diversity_seconds']:.1f} s)")

    if quality and model.is_vae and tv.config.data.source == "grammar":
        from textvae.quality import grammar_quality_report

        start = time.perf_counter()
        report["grammar_quality"] = grammar_quality_report(tv, seed=seed, max_len=max_len)
        timing["grammar_quality_seconds"] = time.perf_counter() - start
    report["timing"] = timing
    return report


_LABELS = {
    "neg_elbo_nats_per_sentence": "-ELBO (beta = 1), nats/sentence",
    "reconstruction_nats_per_sentence": "  reconstruction, nats/sentence",
    "kl_nats_per_sentence": "  KL(q(z|x) || N(0, I)), nats/sentence",
    "iw_nll_nats_per_sentence": "IW-NLL (K = {k}), nats/sentence",
    "nll_nats_per_sentence": "NLL (exact), nats/sentence",
    "ppl_per_token_incl_eos": "PPL per target token (words + eos)",
    "ppl_per_word_excl_eos": "PPL per word (no eos)",
    "ppl_elbo_bound_per_token_incl_eos": "PPL bound from the -ELBO (words + eos)",
    "mutual_information_nats": "mutual information I_q(x; z), nats",
    "active_units": "active units (Var_x E[z_d] > 0.01)",
    "bleu": "BLEU (sacrebleu, tokenize none, 0-100)",
    "exact_match": "exact match",
    "token_accuracy": "token accuracy",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "self_bleu": "self-BLEU (0-100)",
}


def format_report(report: dict[str, Any]) -> str:
    """A readable table of :func:`evaluate`'s report."""
    st = report["settings"]
    of = st.get("split_sentences", st["sentences"])
    subset = "" if of == st["sentences"] else f" (a random subset of its {of}, seed {st['seed']})"
    lines = [f"{st['split']} split: {st['sentences']} sentences{subset}, "
             f"{st['target_tokens_incl_eos']} target tokens (words + eos), {st['words']} words"]

    def section(title: str, rows: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
        lines.extend(["", title])
        for key, value in rows.items():
            if key in skip:
                continue
            label = _LABELS.get(key, key).format(k=st["iw_samples"])
            if key in ("exact_match", "token_accuracy"):
                text = f"{value:.1%}"
            elif isinstance(value, float):
                text = f"{value:.3f}" if "distinct" in key else f"{value:.2f}"
            else:
                text = str(value)
            lines.append(f"  {label:<42} {text}")

    section("likelihood", report["likelihood"])
    if "latent" in report:
        lat = report["latent"]
        section(f"latent space (Z = {lat['latent_dim']})", lat, skip=("latent_dim",))
        section("reconstruction of the posterior mean (greedy)", report["reconstruction"])
    div = report["diversity"]
    section(f"prior samples ({div['samples']}, {div['decoding']}; self-BLEU over "
            f"{div['self_bleu_hypotheses']} of them against the rest)", div,
            skip=("samples", "decoding", "self_bleu_hypotheses"))
    if "grammar_quality" in report:
        from textvae.quality import format_quality_report

        lines.extend(["", format_quality_report(report["grammar_quality"])])
    t = report["timing"]
    lines.extend(["", f"IW-NLL pass: {t['iw_nll_seconds']:.1f} s, "
                      f"{t['iw_sentences_per_second']:.1f} sentences/s"])
    return "\n".join(lines)
