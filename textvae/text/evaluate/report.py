"""The evaluation report of a trained sentence model on one split (``textvae evaluate``):
likelihood bounds, latent usage, reconstruction, diversity and, for the built-in grammar corpus,
generation quality. Every definition follows ../shared/CONVENTIONS.md.
"""

from __future__ import annotations

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
from textvae.text.evaluate.grammar_quality import format_quality_report, grammar_quality_report
from textvae.text.evaluate.iw import iw_nll
from textvae.text.evaluate.settings import DEFAULT_IW_SAMPLES
from textvae.text.evaluate.text_metrics import (
    distinct_n,
    homotopy_change_share,
    reconstruction_bleu,
    self_bleu,
)
from textvae.text.generate import interpolation_path
from textvae.text.run.corpus import build_corpus
from textvae.text.run.decoding import DEFAULT_MAX_LEN, without_latents

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
        if len(ids) >= 2:
            report["homotopy"] = homotopy_report(tv, res["mu"], seed=seed, max_len=max_len)

    start = time.perf_counter()
    prior = without_latents(tv.sample(diversity_samples, seed=seed, max_len=max_len))  # greedy for a VAE
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
        start = time.perf_counter()
        report["grammar_quality"] = grammar_quality_report(tv, seed=seed, max_len=max_len)
        timing["grammar_quality_seconds"] = time.perf_counter() - start
    report["timing"] = timing
    return report


def homotopy_report(tv: TextVAE, mu: torch.Tensor, *, seed: int, max_len: int) -> dict[str, Any]:
    """Greedy decodes along linear paths between the posterior means of HOMOTOPY_PAIRS seeded
    pairs of sentences, HOMOTOPY_STEPS points between each pair's ends, and the share of those
    points whose sentence differs from both neighbours' (:func:`homotopy_change_share`).

    Args:
        mu: (S, Z) posterior means of the evaluated sentences, S >= 2.
    """
    generator = torch.Generator().manual_seed(seed)
    points = HOMOTOPY_STEPS + 2  # both ends included
    pairs = [torch.randperm(mu.shape[0], generator=generator)[:2].tolist()
             for _ in range(HOMOTOPY_PAIRS)]
    z = torch.cat([interpolation_path(mu[a], mu[b], steps=points) for a, b in pairs])  # (P*points, Z)
    decodes = [tv.tokenizer.decode(d)
               for d in tv.decode_ids(z.to(tv.device), method="greedy", max_len=max_len)]
    paths = [decodes[i : i + points] for i in range(0, len(decodes), points)]
    return {"pairs": HOMOTOPY_PAIRS, "steps": HOMOTOPY_STEPS, "pair_index": pairs,
            "changed_share": homotopy_change_share(paths), "example": paths[0]}


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
    if "homotopy" in report:
        hom = report["homotopy"]
        lines.extend(["", f"homotopies ({hom['pairs']} pairs, {hom['steps']} points between each "
                          "pair's posterior means, greedy)",
                      f"  {'points decoded unlike both neighbours':<42} "
                      f"{hom['changed_share']:.1%}"])
    div = report["diversity"]
    section(f"prior samples ({div['samples']}, {div['decoding']}; self-BLEU over "
            f"{div['self_bleu_hypotheses']} of them against the rest)", div,
            skip=("samples", "decoding", "self_bleu_hypotheses"))
    if "grammar_quality" in report:
        lines.extend(["", format_quality_report(report["grammar_quality"])])
    t = report["timing"]
    lines.extend(["", f"IW-NLL pass: {t['iw_nll_seconds']:.1f} s, "
                      f"{t['iw_sentences_per_second']:.1f} sentences/s"])
    return "\n".join(lines)


def subset_indices(total: int, n: int, seed: int) -> list[int]:
    """``n`` distinct indices of ``range(total)``, drawn at random with ``seed`` and sorted, so
    the same (total, n, seed) picks the same sentences for every model (the LM baseline and the
    VAEs are compared on one subset)."""
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(total, generator=generator)[:n].tolist())


def evaluate_split(
    tv: TextVAE, split: str, *, sentences: int | None = None, seed: int = 0, **options: Any
) -> dict[str, Any]:
    """Evaluate a loaded model on a split of its own corpus (its config's ``data`` section):
    all of it, or a seeded random subset of ``sentences`` of it (:func:`subset_indices`).

    Args:
        tv: the loaded model.
        split: ``train``, ``valid`` or ``test``.
        sentences: evaluate this many sentences of the split, or all of it (None).
        seed: seeds the subset and the evaluation (see :func:`evaluate`).
        **options: the other keyword arguments of :func:`evaluate`.

    Returns:
        :func:`evaluate`'s report, with ``settings.split_sentences`` (the split's size) and
        ``per_sentence.split_index`` (which sentences of the split were evaluated).

    Raises:
        TextVAEError: a sentence of the split tokenizes to nothing (evaluation never drops
            sentences silently).
    """
    # the split's note is a diagnostic: on stderr, so that `evaluate --output -` prints only JSON
    corpus = build_corpus(tv.config.data, tokenizer=tv.tokenizer, splits=(split,),
                          log=lambda note: print(note, file=sys.stderr))
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
    report = evaluate(tv, ids, split=split, seed=seed, **options)
    report["settings"]["split_sentences"] = total
    report["per_sentence"]["split_index"] = picked
    return report
