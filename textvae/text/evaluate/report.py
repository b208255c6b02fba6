"""The evaluation report of a trained sentence model on one split (``textvae evaluate``):
likelihood bounds, latent usage, reconstruction (of the split and of training sentences),
homotopies, diversity, sample fluency under a reference LM, reverse perplexity and, for the
built-in grammar corpus, generation quality. Every definition follows ../shared/CONVENTIONS.md;
docs/evaluation.md says how to read each figure.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from textvae.core.errors import TextVAEError
from textvae.core.metrics import (
    active_units,
    mutual_information,
    perplexity,
    reconstruction_accuracy,
)
from textvae.text.api import TextVAE
from textvae.text.evaluate.fluency import forward_perplexity, lm_perplexity
from textvae.text.evaluate.grammar_quality import grammar_quality_report
from textvae.text.evaluate.iw import iw_nll
from textvae.text.evaluate.report_table import format_report
from textvae.text.evaluate.reverse_ppl import REVERSE_LM, reverse_perplexity
from textvae.text.evaluate.settings import (
    DEFAULT_IW_SAMPLES,
    REVERSE_PPL_STEPS,
    SHORT_SENTENCE_TOKENS,
)
from textvae.text.evaluate.text_metrics import (
    distinct_n,
    endpoint_exact_match,
    homotopy_change_share,
    reconstruction_bleu,
    self_bleu,
)
from textvae.text.generate import interpolation_path
from textvae.text.run.corpus import build_corpus
from textvae.text.run.decoding import DEFAULT_MAX_LEN, without_latents

__all__ = ["evaluate", "evaluate_split", "format_report", "homotopy_report",
           "reconstruction_scores", "subset_indices"]

# Latent use along homotopies (issue 22): this many seeded pairs of evaluated sentences, each path
# with this many points strictly between the two posterior means.
HOMOTOPY_PAIRS = 10
HOMOTOPY_STEPS = 8


def evaluate(
    tv: TextVAE,
    ids: Sequence[Sequence[int]],
    *,
    split: str = "test",
    samples: int = DEFAULT_IW_SAMPLES,
    batch_size: int | None = None,
    memory_mb: float | None = None,
    seed: int = 0,
    diversity_samples: int = 1000,
    self_bleu_hypotheses: int = 500,
    max_len: int = DEFAULT_MAX_LEN,
    quality: bool = True,
    train_ids: Sequence[Sequence[int]] | None = None,
    train_reconstruction: int | None = None,
    reference_lm: TextVAE | None = None,
    reverse_ppl_samples: int = 0,
    reverse_ppl_steps: int = REVERSE_PPL_STEPS,
    sample_prior: str = "standard",
    sample_method: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Evaluate a loaded model on tokenized sentences (one split).

    Args:
        tv: the loaded model.
        ids: S token-id lists (without bos/eos) of the evaluation split, all of it.
        split: the split's name, recorded in the report.
        samples: K for the importance-weighted NLL.
        batch_size: sentences per encoder pass of the IW-NLL (default 64; on CUDA more, as
            many as fill one decoder chunk).
        memory_mb: memory budget for one decoder chunk's logits (default: half the free memory
            on CUDA, 256 MB on the CPU; :func:`textvae.text.evaluate.iw.chunk_rule`).
        seed: seeds the posterior samples, the prior samples, the self-BLEU subset, the
            training subset and the reverse-perplexity LMs.
        diversity_samples: prior samples for distinct-n, self-BLEU and, with a
            ``reference_lm``, forward perplexity: by default greedy decodes of z ~ N(0, I).
        self_bleu_hypotheses: at most this many of them are scored against the others.
        max_len: most generated tokens per decode (reconstruction and prior samples).
        quality: add the grammar quality report when the model was trained on the built-in
            grammar corpus.
        train_ids: the training split, token ids: a seeded subset of it is reconstructed
            (memorization, beside the split's generalization) and, for reverse perplexity, as
            many of it as samples teach the real-data baseline LM. None: neither.
        train_reconstruction: training sentences to reconstruct (None: as many as ``ids``, at
            most the split's non-empty ones; 0: none). VAE only.
        reference_lm: a language model trained on the same training split with the same
            tokenizer (:func:`textvae.text.evaluate.fluency.load_reference_lm` checks it): the
            forward perplexity of the prior samples and of the homotopies' interior decodes,
            beside its perplexity of the evaluated sentences.
        reverse_ppl_samples: train a fresh LM on this many prior samples and score the
            evaluated sentences with it (:func:`~textvae.text.evaluate.reverse_ppl.reverse_perplexity`);
            0: skip (it takes minutes).
        reverse_ppl_steps: that LM's optimiser steps.
        sample_prior: where the prior samples' codes come from: ``"standard"`` (N(0, I)) or
            ``"aggregate"`` (:meth:`~textvae.text.api.TextVAE.aggregate_prior`, fitted and saved
            in the checkpoint on first use); ignored for the LM baseline.
        sample_method: how they are decoded (``"greedy"``, ``"sample"``, ...; None: greedy for
            a VAE, ancestral sampling at T = 1 for the LM baseline).
        progress: show progress bars.
        log: where one-line progress notes go.

    Returns:
        A JSON-ready dict with sections ``settings``, ``likelihood``, ``per_sentence`` (the
        IW-NLL, for the LM the exact NLL, of each sentence in input order), ``latent`` (VAE only),
        ``reconstruction`` and ``reconstruction_train`` (VAE only), ``homotopy`` (VAE only),
        ``diversity``, ``fluency`` (with a reference LM), ``reverse_ppl`` (when asked),
        ``grammar_quality`` (grammar corpus only) and ``timing``. Units are in the key names:
        nats per sentence, perplexities labelled by what they divide by, BLEU on sacrebleu's
        0-100 scale, shares in [0, 1].
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
            "reference_lm": None if reference_lm is None or reference_lm.path is None
            else str(reference_lm.path),
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
        report["reconstruction"] = reconstruction_scores(tv, ids, res["mu"], max_len=max_len)
        timing["reconstruction_seconds"] = time.perf_counter() - start
        log(f"reconstruction done ({timing['reconstruction_seconds']:.1f} s)")
        candidates = [i for i, x in enumerate(train_ids or []) if x]  # encodable ones
        count = min(len(ids) if train_reconstruction is None else train_reconstruction,
                    len(candidates))
        if train_ids is not None and count > 0:
            start = time.perf_counter()
            picked = [candidates[i] for i in subset_indices(len(candidates), count, seed)]
            report["reconstruction_train"] = {
                "sentences": count, "split_sentences": len(train_ids), "seed": seed,
                **reconstruction_scores(tv, [train_ids[i] for i in picked], max_len=max_len),
            }
            timing["reconstruction_train_seconds"] = time.perf_counter() - start
        if len(ids) >= 2:
            start = time.perf_counter()
            report["homotopy"] = homotopy_report(tv, res["mu"], texts, seed=seed,
                                                 max_len=max_len, reference_lm=reference_lm)
            timing["homotopy_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    if model.is_vae and sample_prior == "aggregate":
        tv.aggregate_prior(log=log)  # fitted once (minutes) and saved, else read
    prior = without_latents(tv.sample(diversity_samples, seed=seed, max_len=max_len,
                                      prior=sample_prior, method=sample_method))
    tokens = [t.split() for t in prior]
    decoding = sample_decoding(model.is_vae, sample_prior, sample_method)
    report["diversity"] = {
        "samples": diversity_samples,
        "decoding": decoding,
        "distinct_1": distinct_n(tokens, 1),
        "distinct_2": distinct_n(tokens, 2),
        "self_bleu": self_bleu(prior, max_hypotheses=self_bleu_hypotheses, seed=seed,
                               progress=progress),
        "self_bleu_hypotheses": min(self_bleu_hypotheses, diversity_samples),
    }
    timing["diversity_seconds"] = time.perf_counter() - start
    log(f"diversity done ({timing['diversity_seconds']:.1f} s)")

    if reference_lm is not None:
        start = time.perf_counter()
        fwd = forward_perplexity(reference_lm, prior, progress=progress,
                                 desc="forward PPL of the samples")
        real = lm_perplexity(reference_lm, ids, progress=progress,
                             desc=f"reference LM on the {split} split")
        report["fluency"] = {
            "samples": len(prior), "decoding": decoding,
            "samples_forward_nll_nats_per_sentence": fwd["nll_nats_per_sentence"],
            "samples_forward_ppl_per_token_incl_eos": fwd["ppl_per_token_incl_eos"],
            "split_nll_nats_per_sentence": real["nll_nats_per_sentence"],
            "split_ppl_per_token_incl_eos": real["ppl_per_token_incl_eos"],
        }
        timing["fluency_seconds"] = time.perf_counter() - start
        log(f"fluency done ({timing['fluency_seconds']:.1f} s)")

    if reverse_ppl_samples > 0:
        start = time.perf_counter()
        report["reverse_ppl"] = reverse_ppl_report(
            tv, ids, train_ids, samples=reverse_ppl_samples, steps=reverse_ppl_steps, seed=seed,
            max_len=max_len, progress=progress)
        timing["reverse_ppl_seconds"] = time.perf_counter() - start
        log(f"reverse perplexity done ({timing['reverse_ppl_seconds']:.1f} s)")

    if quality and model.is_vae and tv.config.data.source == "grammar":
        start = time.perf_counter()
        report["grammar_quality"] = grammar_quality_report(tv, seed=seed, max_len=max_len)
        timing["grammar_quality_seconds"] = time.perf_counter() - start
    report["timing"] = timing
    return report


def sample_decoding(is_vae: bool, prior: str, method: str | None) -> str:
    """How :func:`evaluate`'s prior samples were made, in words, for the report."""
    if not is_vae:
        return "ancestral sampling, T = 1" if method in (None, "sample") else f"{method} (LM)"
    source = "z ~ N(0, I)" if prior == "standard" else "z from the aggregate prior"
    return f"{method or 'greedy'} from {source}"


@torch.no_grad()
def reconstruction_scores(
    tv: TextVAE, ids: Sequence[Sequence[int]], mu: torch.Tensor | None = None, *,
    max_len: int = DEFAULT_MAX_LEN,
) -> dict[str, float | None]:
    """Greedy decodes of the posterior means against the inputs: corpus BLEU (sacrebleu,
    ``tokenize="none"``, 0-100; Papineni et al. 2002), and the exact-match share and token
    accuracy of :func:`textvae.core.metrics.reconstruction_accuracy`, and the exact-match share
    among the sentences of at most SHORT_SENTENCE_TOKENS tokens (None when there are none). A
    decode that reaches ``max_len`` without an end token counts as wrong at the end.

    Args:
        tv: a loaded VAE.
        ids: S non-empty token-id lists.
        mu: (S, Z) their posterior means, if already computed (else encoded here).

    Returns:
        ``bleu``, ``exact_match``, ``token_accuracy``, ``exact_match_short`` and
        ``short_sentences`` (how many of the S have at most SHORT_SENTENCE_TOKENS tokens).
    """
    if mu is None:
        mu, _ = tv.encode_ids(ids)
    decodes = tv.decode_ids(mu.to(tv.device), method="greedy", max_len=max_len)
    ended = [len(d) < max_len for d in decodes]
    acc = reconstruction_accuracy(ids, decodes, decodes_ended=ended)
    short = [i for i, x in enumerate(ids) if len(x) <= SHORT_SENTENCE_TOKENS]
    short_exact = (reconstruction_accuracy([ids[i] for i in short], [decodes[i] for i in short],
                                           decodes_ended=[ended[i] for i in short])["exact_match"]
                   if short else None)
    return {
        "bleu": reconstruction_bleu([tv.tokenizer.decode(d) for d in decodes],
                                    [tv.tokenizer.decode(x) for x in ids]),
        "exact_match": acc["exact_match"],
        "token_accuracy": acc["token_accuracy"],
        "exact_match_short": short_exact,
        "short_sentences": len(short),
    }


def homotopy_report(
    tv: TextVAE, mu: torch.Tensor, texts: Sequence[str], *, seed: int, max_len: int,
    reference_lm: TextVAE | None = None,
) -> dict[str, Any]:
    """Greedy decodes along linear paths between the posterior means of HOMOTOPY_PAIRS seeded
    pairs of sentences, HOMOTOPY_STEPS points between each pair's ends: the share of those
    points whose sentence differs from both neighbours' (:func:`homotopy_change_share`), the
    share of the ends that decode to their own sentences (:func:`endpoint_exact_match`) and,
    with a reference LM, the forward perplexity of the interior decodes.

    Args:
        mu: (S, Z) posterior means of the evaluated sentences, S >= 2.
        texts: the S sentences, as the model's tokenizer decodes them.
    """
    generator = torch.Generator().manual_seed(seed)
    points = HOMOTOPY_STEPS + 2  # both ends included
    pairs = [torch.randperm(mu.shape[0], generator=generator)[:2].tolist()
             for _ in range(HOMOTOPY_PAIRS)]
    z = torch.cat([interpolation_path(mu[a], mu[b], steps=points) for a, b in pairs])  # (P*points, Z)
    decodes = [tv.tokenizer.decode(d)
               for d in tv.decode_ids(z.to(tv.device), method="greedy", max_len=max_len)]
    paths = [decodes[i : i + points] for i in range(0, len(decodes), points)]
    out: dict[str, Any] = {
        "pairs": HOMOTOPY_PAIRS, "steps": HOMOTOPY_STEPS, "pair_index": pairs,
        "changed_share": homotopy_change_share(paths),
        "endpoints_exact_match": endpoint_exact_match(
            paths, [(texts[a], texts[b]) for a, b in pairs]),
    }
    if reference_lm is not None:
        interior = [sentence for path in paths for sentence in path[1:-1]]
        fwd = forward_perplexity(reference_lm, interior)
        out["interior_forward_nll_nats_per_sentence"] = fwd["nll_nats_per_sentence"]
        out["interior_forward_ppl_per_token_incl_eos"] = fwd["ppl_per_token_incl_eos"]
    out["example"] = paths[0]
    return out


def reverse_ppl_report(
    tv: TextVAE, ids: Sequence[Sequence[int]], train_ids: Sequence[Sequence[int]] | None, *,
    samples: int, steps: int, seed: int, max_len: int, progress: bool = False,
) -> dict[str, Any]:
    """Reverse perplexity (:func:`reverse_perplexity`) of the evaluated sentences ``ids`` under
    an LM trained on ``samples`` prior samples of ``tv`` (decoded as the diversity samples are),
    and, given ``train_ids``, under the same LM trained with the same budget on as many seeded
    training sentences (the real-data baseline)."""
    prior = without_latents(tv.sample(samples, seed=seed, max_len=max_len))
    sample_ids = [tv.tokenizer.encode(t) for t in prior]
    fit = functools.partial(reverse_perplexity, test_ids=ids, tokenizer=tv.tokenizer,
                            steps=steps, seed=seed, device=tv.device, progress=progress)
    on_samples = fit(sample_ids, desc=f"reverse PPL: LM on {samples} samples")
    out: dict[str, Any] = {
        "samples": samples, "steps": steps, "batch_size": on_samples["batch_size"],
        "lm": f"{REVERSE_LM.rnn_type.upper()}, embedding {REVERSE_LM.embed_dim}, hidden "
              f"{REVERSE_LM.decoder_hidden_dim}",
        "samples_nll_nats_per_sentence": on_samples["nll_nats_per_sentence"],
        "samples_ppl_per_token_incl_eos": on_samples["ppl_per_token_incl_eos"],
    }
    if train_ids:
        picked = subset_indices(len(train_ids), min(samples, len(train_ids)), seed)
        on_real = fit([train_ids[i] for i in picked],
                      desc=f"reverse PPL: LM on {len(picked)} real sentences")
        out["real_sentences"] = len(picked)
        out["real_nll_nats_per_sentence"] = on_real["nll_nats_per_sentence"]
        out["real_ppl_per_token_incl_eos"] = on_real["ppl_per_token_incl_eos"]
    return out


def subset_indices(total: int, n: int, seed: int) -> list[int]:
    """``n`` distinct indices of ``range(total)``, drawn at random with ``seed`` and sorted, so
    the same (total, n, seed) picks the same sentences for every model (the LM baseline and the
    VAEs are compared on one subset)."""
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(total, generator=generator)[:n].tolist())


def evaluate_split(
    tv: TextVAE, split: str, *, sentences: int | None = None, seed: int = 0,
    train_reconstruction: int | None = None, **options: Any
) -> dict[str, Any]:
    """Evaluate a loaded model on a split of its own corpus (its config's ``data`` section):
    all of it, or a seeded random subset of ``sentences`` of it (:func:`subset_indices`).

    The training split is read too where it is needed: a VAE's reconstruction of training
    sentences (not when ``split`` is ``train`` itself) and the real-data baseline of reverse
    perplexity.

    Args:
        tv: the loaded model.
        split: ``train``, ``valid`` or ``test``.
        sentences: evaluate this many sentences of the split, or all of it (None).
        seed: seeds the subset and the evaluation (see :func:`evaluate`).
        train_reconstruction: training sentences to reconstruct (None: as many as are
            evaluated; 0: none).
        **options: the other keyword arguments of :func:`evaluate`.

    Returns:
        :func:`evaluate`'s report, with ``settings.split_sentences`` (the split's size) and
        ``per_sentence.split_index`` (which sentences of the split were evaluated).

    Raises:
        TextVAEError: a sentence of the split tokenizes to nothing (evaluation never drops
            sentences silently).
    """
    if split == "train":
        train_reconstruction = 0  # the split itself shows it
    wants_train = (options.get("reverse_ppl_samples", 0) > 0
                   or (tv.model.is_vae and train_reconstruction != 0))
    splits = (split, "train") if wants_train and split != "train" else (split,)
    # the split's note is a diagnostic: on stderr, so that `evaluate --output -` prints only JSON
    corpus = build_corpus(tv.config.data, tokenizer=tv.tokenizer, splits=splits,
                          log=lambda note: print(note, file=sys.stderr))
    train_ids = corpus.ids["train"] if wants_train else None
    ids = corpus.ids[split]
    empty = [i + 1 for i, x in enumerate(ids) if not x]
    if empty:
        raise TextVAEError(
            f"{len(empty)} sentences of the {split} split tokenize to nothing "
            f"(first: line {empty[0]}); evaluation never drops sentences silently"
        )
    total = len(ids)
    picked = list(range(total))
    if sentences is not None and sentences < total:
        picked = subset_indices(total, sentences, seed)
        ids = [ids[i] for i in picked]
    report = evaluate(tv, ids, split=split, seed=seed, train_ids=train_ids,
                      train_reconstruction=train_reconstruction, **options)
    report["settings"]["split_sentences"] = total
    report["per_sentence"]["split_index"] = picked
    return report
