"""The evaluation report (:func:`textvae.text.evaluate.report.evaluate`) as titled sections of
labelled, formatted figures: :func:`report_sections` gives them, :func:`format_report` prints
them as ``textvae evaluate``'s table, and ``textvae report``'s HTML page shows the same rows.
"""

from __future__ import annotations

from typing import Any

from textvae.text.evaluate.grammar_quality import format_quality_report
from textvae.text.evaluate.settings import SHORT_SENTENCE_TOKENS

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
    "exact_match_short": f"exact match, sentences of <= {SHORT_SENTENCE_TOKENS} tokens",
    "short_sentences": f"sentences of <= {SHORT_SENTENCE_TOKENS} tokens",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "self_bleu": "self-BLEU (0-100)",
}
_SHARES = ("exact_match", "token_accuracy", "changed_share", "endpoints_exact_match",
           "exact_match_short")

Rows = list[tuple[str, str]]  # (label, formatted value)


def _text(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if key in _SHARES:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.3f}" if "distinct" in key else f"{value:.2f}"
    return str(value)


def _rows(rows: dict[str, Any], skip: tuple[str, ...] = (), k: Any = None) -> Rows:
    return [(_LABELS.get(key, key).format(k=k), _text(key, value))
            for key, value in rows.items() if key not in skip]


def report_sections(report: dict[str, Any]) -> list[tuple[str, Rows]]:
    """The report's figures as (title, rows) sections, in reading order: likelihood, latent
    space, reconstruction of the split and of training sentences, homotopies, prior samples,
    their fluency under the reference LM and reverse perplexity (each where the report has it).
    The grammar quality report and the timing are left to :func:`format_report`."""
    st = report["settings"]
    split = st["split"]
    sections = [("likelihood", _rows(report["likelihood"], k=st["iw_samples"]))]
    if "latent" in report:
        lat = report["latent"]
        sections.append((f"latent space (Z = {lat['latent_dim']})",
                         _rows(lat, skip=("latent_dim",))))
    if "reconstruction" in report:
        sections.append((f"reconstruction of the posterior mean (greedy), {split} split",
                         _rows(report["reconstruction"])))
    if "reconstruction_train" in report:
        rec = report["reconstruction_train"]
        sections.append((f"reconstruction of {rec['sentences']} training sentences (a subset "
                         f"drawn with seed {rec['seed']}; memorization)",
                         _rows(rec, skip=("sentences", "split_sentences", "seed"))))
    if "homotopy" in report:
        hom = report["homotopy"]
        rows = [("points decoded unlike both neighbours", _text("changed_share",
                                                                 hom["changed_share"]))]
        if "endpoints_exact_match" in hom:
            rows.append(("ends decoded to their own sentences",
                         _text("endpoints_exact_match", hom["endpoints_exact_match"])))
        if "interior_forward_ppl_per_token_incl_eos" in hom:
            rows.append((f"forward PPL of the {hom['pairs'] * hom['steps']} points (ref. LM)",
                         _text("", hom["interior_forward_ppl_per_token_incl_eos"])))
        sections.append((f"homotopies ({hom['pairs']} pairs, {hom['steps']} points between each "
                         "pair's posterior means, greedy)", rows))
    div = report["diversity"]
    sections.append((f"prior samples ({div['samples']}, {div['decoding']}; self-BLEU over "
                     f"{div['self_bleu_hypotheses']} of them against the rest)",
                     _rows(div, skip=("samples", "decoding", "self_bleu_hypotheses"))))
    if "fluency" in report:
        flu = report["fluency"]
        sections.append(("fluency under the reference LM (PPL per target token, words + eos)", [
            (f"forward PPL of the {flu['samples']} prior samples",
             _text("", flu["samples_forward_ppl_per_token_incl_eos"])),
            (f"its PPL of the {split} split (real)",
             _text("", flu["split_ppl_per_token_incl_eos"])),
        ]))
    if "reverse_ppl" in report:
        rev = report["reverse_ppl"]
        rows = [(f"LM trained on {rev['samples']} prior samples",
                 _text("", rev["samples_ppl_per_token_incl_eos"]))]
        if "real_ppl_per_token_incl_eos" in rev:
            rows.append((f"LM trained on {rev['real_sentences']} training sentences",
                         _text("", rev["real_ppl_per_token_incl_eos"])))
        sections.append((f"reverse perplexity: the {split} split's PPL per target token under "
                         f"a fresh {rev['lm']}, {rev['steps']} steps", rows))
    return sections


def format_report(report: dict[str, Any]) -> str:
    """A readable table of :func:`~textvae.text.evaluate.report.evaluate`'s report."""
    st = report["settings"]
    of = st.get("split_sentences", st["sentences"])
    subset = "" if of == st["sentences"] else f" (a random subset of its {of}, seed {st['seed']})"
    lines = [f"{st['split']} split: {st['sentences']} sentences{subset}, "
             f"{st['target_tokens_incl_eos']} target tokens (words + eos), {st['words']} words"]
    for title, rows in report_sections(report):
        lines.extend(["", title])
        lines.extend(f"  {label:<42} {text}" for label, text in rows)
    if "grammar_quality" in report:
        lines.extend(["", format_quality_report(report["grammar_quality"])])
    t = report["timing"]
    lines.extend(["", f"IW-NLL pass: {t['iw_nll_seconds']:.1f} s, "
                      f"{t['iw_sentences_per_second']:.1f} sentences/s"])
    return "\n".join(lines)
