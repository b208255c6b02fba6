"""One row of figures per sweep point, read from its ``textvae evaluate`` report
(:func:`textvae.text.evaluate.report.evaluate_split`) and the LM point's, and the table the sweep
prints. Pure: reports in, dicts and text out.

Every figure keeps the report's units (nats per sentence, perplexity per target token with the
end token, BLEU 0-100, shares in [0, 1]); ``None`` where a point has no such figure (the LM has
no KL, no reconstruction, no homotopies).
"""

from __future__ import annotations

from typing import Any

from textvae.text.evaluate.paired import paired_difference


def _get(tree: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def point_row(point: dict[str, Any], report: dict[str, Any],
              lm_report: dict[str, Any]) -> dict[str, Any]:
    """A point's row of ``sweep.json``.

    Args:
        point: what the sweep knows of the point: ``name``, ``model_type``, ``rate_target``,
            ``deletion``, ``overrides``, ``train_seconds``, ``train_steps``, ``train_stopped``,
            ``command`` (copied into the row first).
        report: its evaluation report.
        lm_report: the LM point's (the LM's own for the LM).
    """
    lik = report["likelihood"]
    is_vae = "latent" in report
    gap, se = paired_difference(report, lm_report) if is_vae else (None, None)
    fwd = _get(report, "fluency", "samples_forward_ppl_per_token_incl_eos")
    lm_fwd = _get(lm_report, "fluency", "samples_forward_ppl_per_token_incl_eos")
    row: dict[str, Any] = dict(point)
    row.update({
        "kl_nats": lik.get("kl_nats_per_sentence"),
        "iw_nll_nats": lik.get("iw_nll_nats_per_sentence", lik.get("nll_nats_per_sentence")),
        "iw_samples": report["settings"]["iw_samples"],
        "nll_gap_to_lm_nats": gap, "nll_gap_se_nats": se,
        "ppl_per_token_incl_eos": lik["ppl_per_token_incl_eos"],
        "mutual_information_nats": _get(report, "latent", "mutual_information_nats"),
        "active_units": _get(report, "latent", "active_units"),
        "recon_bleu": _get(report, "reconstruction", "bleu"),
        "recon_exact_match": _get(report, "reconstruction", "exact_match"),
        "recon_token_accuracy": _get(report, "reconstruction", "token_accuracy"),
        "recon_exact_match_short": _get(report, "reconstruction", "exact_match_short"),
        "train_recon_bleu": _get(report, "reconstruction_train", "bleu"),
        "train_recon_exact_match": _get(report, "reconstruction_train", "exact_match"),
        "train_recon_token_accuracy": _get(report, "reconstruction_train", "token_accuracy"),
        "homotopy_changed_share": _get(report, "homotopy", "changed_share"),
        "homotopy_endpoints_exact_match": _get(report, "homotopy", "endpoints_exact_match"),
        "homotopy_interior_forward_ppl": _get(report, "homotopy",
                                              "interior_forward_ppl_per_token_incl_eos"),
        "samples_decoding": report["diversity"]["decoding"],
        "samples_forward_ppl": fwd,
        "lm_samples_forward_ppl": lm_fwd,
        "samples_forward_ppl_vs_lm_samples": None if fwd is None or not lm_fwd else fwd / lm_fwd,
        "valid_ppl_under_lm": _get(report, "fluency", "split_ppl_per_token_incl_eos"),
        "self_bleu": report["diversity"]["self_bleu"],
        "distinct_1": report["diversity"]["distinct_1"],
        "distinct_2": report["diversity"]["distinct_2"],
        "reverse_ppl": _get(report, "reverse_ppl", "samples_ppl_per_token_incl_eos"),
        "reverse_ppl_real": _get(report, "reverse_ppl", "real_ppl_per_token_incl_eos"),
        "eval_sentences": report["settings"]["sentences"],
        "eval_seconds": _get(report, "timing", "total_seconds"),
    })
    return row


# The printed table: (heading, row key, format). Shares print as percentages.
COLUMNS = (
    ("point", "name", "{}"),
    ("KL", "kl_nats", "{:.1f}"),
    ("MI", "mutual_information_nats", "{:.2f}"),
    ("AU", "active_units", "{}"),
    ("NLL-LM ±SE", None, ""),
    ("BLEU", "recon_bleu", "{:.1f}"),
    ("BLEU tr", "train_recon_bleu", "{:.1f}"),
    ("exact", "recon_exact_match", "{:.0%}"),
    ("tok acc", "recon_token_accuracy", "{:.0%}"),
    ("hom chg", "homotopy_changed_share", "{:.0%}"),
    ("ends", "homotopy_endpoints_exact_match", "{:.0%}"),
    ("smp PPL/LM", "samples_forward_ppl_vs_lm_samples", "{:.2f}"),
    ("self-BLEU", "self_bleu", "{:.1f}"),
    ("dist-2", "distinct_2", "{:.3f}"),
    ("train min", "train_seconds", ""),
    ("eval s", "eval_seconds", "{:.0f}"),
)


def table_cell(row: dict[str, Any], key: str | None, form: str) -> str:
    if key is None:  # the paired gap with its standard error
        gap, se = row.get("nll_gap_to_lm_nats"), row.get("nll_gap_se_nats")
        if gap is None:
            return "-"
        return f"{gap:+.2f}" + ("" if se is None else f" ±{se:.2f}")
    value = row.get(key)
    if value is None:
        return "-"
    if key == "train_seconds":
        return f"{value / 60:.1f}"
    return form.format(value)


def format_table(rows: list[dict[str, Any]]) -> str:
    """The sweep's rows as an aligned text table, with a legend line."""
    cells = [[heading for heading, _, _ in COLUMNS]]
    cells += [[table_cell(row, key, form) for _, key, form in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w)
                       for i, (text, w) in enumerate(zip(line, widths, strict=True)))
             for line in cells]
    lines.append(
        "KL, MI: nats/sentence; NLL-LM: IW-NLL minus the LM's NLL, paired, nats/sentence; "
        "BLEU / exact / tok acc: greedy reconstruction of valid (tr: training) sentences; hom "
        "chg: interior homotopy points that change; ends: endpoints decoded exactly; smp PPL/LM: "
        "prior samples' forward PPL over the LM samples'")
    return "\n".join(lines)
