"""Evaluating a labelled run (conditional VAE, M2, or the supervised-only baseline) on a split.

- the bound given the true labels: -ELBO(x | y) = reconstruction + KL, nats per sentence, and the
  labelled bound -L(x, y) = that - log p(y) (Kingma et al.'s, uniform p(y));
- classification accuracy and error of every factor the model can infer;
- on the built-in grammar corpus, judged by the grammar's exact labeller
  (:func:`textvae.text.data.grammar.parse`): how often greedy decodes of prior samples carry the labels
  asked for, for every combination of the topic, tense and mood values the model knows, and are
  grammatical; and how often transfers of tense, subject number and negation carry the new label,
  keep every other label, and are grammatical.

Shapes: S = sentences, F = factors.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import torch

from textvae.core.label_sets import UNLABELLED
from textvae.core.semisupervised import log_uniform_prior
from textvae.text.api.labelled import LabelledTextVAE
from textvae.text.data.grammar import parse
from textvae.text.data.labels import GRAMMAR_FACTORS
from textvae.text.models.label_posterior import label_posteriors
from textvae.text.run.labelled_corpus import build_labelled_corpus
from textvae.text.training.validate import evaluate_elbo

# The factors the sampling check combines, and the ones the transfer check flips (issue 18).
SAMPLED_FACTORS = ("topic", "tense", "mood")
TRANSFERRED_FACTORS = ("tense", "number", "negation")


def evaluate_labelled(tv: LabelledTextVAE, split: str = "test", *, seed: int = 0, samples_per_combination: int = 50,
                      transfer_sentences: int = 300, log: Any = print) -> dict[str, Any]:
    """The report of a labelled run on ``split`` of its own corpus (module docstring)."""
    start = time.perf_counter()
    cfg = tv.config
    data = build_labelled_corpus(cfg.data, cfg.labels, tokenizer=tv.tokenizer, label_set=tv.label_set,
                                 splits=(split,), log=log)
    ids, labels = data.corpus.ids[split], data.labels[split]
    keep = [i for i, row in enumerate(labels) if UNLABELLED not in row]
    ids, labels = [ids[i] for i in keep], [labels[i] for i in keep]
    report: dict[str, Any] = {"split": split, "sentences": len(ids), "mode": cfg.labels.mode,
                              "labels": tv.label_set.to_dict()}
    if cfg.labels.mode != "classifier":
        bound = evaluate_elbo(tv.labelled, ids, tv.tokenizer, batch_size=64, device=tv.device, seed=seed,
                              labels=labels)
        bound["neg_labelled_elbo"] = bound["neg_elbo"] - log_uniform_prior(tv.label_set.sizes)
        report["bound_given_labels"] = bound
    probs = label_posteriors(tv.labelled, ids, tv.tokenizer, device=tv.device)
    truth = torch.tensor(labels)
    report["classification"] = {
        name: {"accuracy": float((p.argmax(1) == truth[:, f]).float().mean()),
               "error": float((p.argmax(1) != truth[:, f]).float().mean())}
        for f, (name, p) in enumerate(zip(tv.label_set.names, probs, strict=True)) if p is not None
    }
    if cfg.data.source == "grammar" and cfg.labels.mode == "conditional":
        report["grammar_samples"] = grammar_sample_check(tv, samples_per_combination, seed)
        sentences = data.corpus.sentences[split]
        chosen = [sentences[i] for i in keep][:transfer_sentences]
        report["grammar_transfer"] = grammar_transfer_check(tv, chosen, labels[:transfer_sentences], seed)
    report["seconds"] = time.perf_counter() - start
    return report


def _grammar_labels(sentence: str) -> dict[str, str] | None:
    found = parse(sentence)
    if found is None:
        return None
    return {name: (("yes" if found[name] else "no") if isinstance(found[name], bool) else str(found[name]))
            for name in GRAMMAR_FACTORS}


def grammar_sample_check(tv: LabelledTextVAE, per_combination: int, seed: int) -> dict[str, Any]:
    """Greedy decodes of prior samples for every combination of the sampled factors' values."""
    factors = [f for f in SAMPLED_FACTORS if f in tv.label_set.factors]
    rows: list[dict[str, Any]] = []
    for values in itertools.product(*(tv.label_set.factors[f] for f in factors)):
        request = dict(zip(factors, values, strict=True))
        texts = tv.sample(per_combination, label=request, seed=seed)
        parsed = [_grammar_labels(t) for t in texts]
        carried = [p is not None and all(p[f] == v for f, v in request.items()) for p in parsed]
        rows.append({"labels": request, "carried": sum(carried) / len(texts),
                     "grammatical": sum(p is not None for p in parsed) / len(texts)})
    return {"factors": factors, "per_combination": per_combination,
            "carried": sum(r["carried"] for r in rows) / len(rows),
            "grammatical": sum(r["grammatical"] for r in rows) / len(rows),
            "worst_carried": min(r["carried"] for r in rows), "combinations": rows}


def grammar_transfer_check(tv: LabelledTextVAE, sentences: list[str], labels: list[list[int]],
                           seed: int) -> dict[str, Any]:
    """Flip each transferred factor of each sentence to its next value (the sentence's own labels
    given), decode greedily, and judge the decode with the grammar's labeller. Also how much of the
    sentence itself survives: the share decoded exactly with its own labels unchanged, and per
    transfer the share of the sentence's distinct words the output keeps."""
    ids = tv.token_ids(sentences)
    source = torch.tensor(labels)  # (S, F)
    own = [_grammar_labels(s) for s in sentences]
    same = tv.transfer_labels(ids, source, source, seed=seed)
    out: dict[str, Any] = {"sentences": len(sentences),
                           "reconstructed_exactly": sum(a == b for a, b in zip(same, sentences, strict=True))
                           / max(1, len(sentences))}
    for factor in (f for f in TRANSFERRED_FACTORS if f in tv.label_set.factors):
        f = tv.label_set.names.index(factor)
        target = source.clone()
        target[:, f] = (source[:, f] + 1) % tv.label_set.sizes[f]
        outputs = tv.transfer_labels(ids, source, target, seed=seed)
        carried = kept = grammatical = 0
        words = [len(set(o.split()) & set(s.split())) / len(set(s.split())) for o, s in zip(outputs, sentences, strict=True)]
        for row, before, output in zip(target.tolist(), own, outputs, strict=True):
            found = _grammar_labels(output)
            if found is None:
                continue
            grammatical += 1
            carried += found[factor] == tv.label_set.value(factor, row[f])
            kept += before is not None and all(found[n] == before[n] for n in GRAMMAR_FACTORS if n != factor)
        n = len(sentences)
        out[factor] = {"carried": carried / n, "others_kept": kept / n, "grammatical": grammatical / n,
                       "words_kept": sum(words) / n}
    return out


def format_labelled_report(report: dict[str, Any]) -> str:
    """The report as a few readable lines."""
    lines = [f"{report['mode']} run, {report['split']} split, {report['sentences']} labelled sentences"]
    bound = report.get("bound_given_labels")
    if bound:
        lines.append(f"-ELBO(x | y) {bound['neg_elbo']:.2f} = rec {bound['reconstruction']:.2f} + KL "
                     f"{bound['kl']:.2f}; -L(x, y) {bound['neg_labelled_elbo']:.2f} nats/sentence; "
                     f"active units {bound['active_units']}")
    for name, row in report["classification"].items():
        lines.append(f"classification of {name}: accuracy {row['accuracy']:.4f}, error {row['error']:.4f}")
    samples = report.get("grammar_samples")
    if samples:
        lines.append(f"prior samples with each {'/'.join(samples['factors'])} combination "
                     f"({samples['per_combination']} each): requested labels carried {samples['carried']:.3f} "
                     f"(worst combination {samples['worst_carried']:.3f}), grammatical {samples['grammatical']:.3f}")
    transfer = report.get("grammar_transfer") or {}
    if transfer:
        lines.append(f"decoded exactly with their own labels: {transfer['reconstructed_exactly']:.3f} of "
                     f"{transfer['sentences']} sentences")
    for factor, row in transfer.items():
        if isinstance(row, dict):
            lines.append(f"transfer of {factor}: new label carried {row['carried']:.3f}, every other label "
                         f"kept {row['others_kept']:.3f}, grammatical {row['grammatical']:.3f}, the "
                         f"sentence's words kept {row['words_kept']:.3f}")
    return "\n".join(lines)
