"""The sweep's rate-distortion picture (PNG) and its HTML report.

The picture has four panels, each against the rate (the validation KL, nats per sentence), one
series per word-deletion value: the reconstruction BLEU of validation sentences; the IW-NLL gap
to the LM with ±1 standard error bars; the prior samples' forward perplexity under the LM over
the LM's own samples'; self-BLEU (solid) and distinct-2 (dashed, right axis) of the samples. The
LM's own figure is a grey line where it has one. Recommended points are ringed.

The page is self-contained (the PNG inlined as a ``data:`` URI, :data:`textvae.text.viz.page.STYLE`)
and escapes every piece of text. Every file goes through :mod:`textvae.core.files`.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textvae.core.files import write_text, write_with
from textvae.text.sweep.choose import CHANGE_SHARE, FLUENCY_RATIO, Choice
from textvae.text.sweep.rows import COLUMNS, table_cell
from textvae.text.viz.page import STYLE

DPI = 100


def _series(rows: Sequence[dict[str, Any]]) -> dict[float, list[dict[str, Any]]]:
    """The VAE rows with a measured KL, by deletion value, each series sorted by KL."""
    out: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("model_type") == "vae" and row.get("kl_nats") is not None:
            out.setdefault(float(row.get("deletion") or 0.0), []).append(row)
    return {d: sorted(group, key=lambda r: r["kl_nats"]) for d, group in sorted(out.items())}


def plot_rate_distortion(rows: Sequence[dict[str, Any]], out: str | os.PathLike[str], *,
                         chosen: Sequence[str] = ()) -> Path:
    """Write the four-panel picture of the sweep's rows to ``out`` (PNG, atomically).

    Args:
        rows: the sweep's rows (:func:`textvae.text.sweep.rows.point_row`), the LM's included.
        chosen: names of the recommended points, ringed.
    """
    from matplotlib.figure import Figure

    series = _series(rows)
    lm = next((r for r in rows if r.get("model_type") == "lm"), None)
    figure = Figure(figsize=(11, 8), layout="constrained")
    (bleu, gap), (fluency, diversity) = figure.subplots(2, 2, sharex=True)
    twin = diversity.twinx()

    def values(group: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
        kept = [r for r in group if r.get(key) is not None]
        return [r["kl_nats"] for r in kept], [float(r[key]) for r in kept]

    for index, (deletion, group) in enumerate(series.items()):
        colour = f"C{index}"
        label = f"word deletion {deletion:g}"
        bleu.plot(*values(group, "recon_bleu"), marker="o", color=colour, label=label)
        kept = [r for r in group if r.get("nll_gap_to_lm_nats") is not None]
        gap.errorbar([r["kl_nats"] for r in kept], [r["nll_gap_to_lm_nats"] for r in kept],
                     yerr=[r.get("nll_gap_se_nats") or 0.0 for r in kept], marker="o",
                     color=colour, capsize=3, label=label)
        fluency.plot(*values(group, "samples_forward_ppl_vs_lm_samples"), marker="o",
                     color=colour, label=label)
        diversity.plot(*values(group, "self_bleu"), marker="o", color=colour, label=label)
        twin.plot(*values(group, "distinct_2"), marker="s", linestyle="--", color=colour)
        for axis, key in ((bleu, "recon_bleu"), (gap, "nll_gap_to_lm_nats"),
                          (fluency, "samples_forward_ppl_vs_lm_samples")):
            for row in group:
                if row["name"] in chosen and row.get(key) is not None:
                    axis.plot([row["kl_nats"]], [row[key]], marker="o", markersize=14,
                              markerfacecolor="none", markeredgecolor="black")
    gap.axhline(0.0, color="grey", linewidth=1, label="the LM")
    fluency.axhline(1.0, color="grey", linewidth=1, label="the LM's own samples")
    fluency.axhline(FLUENCY_RATIO, color="tab:red", linestyle=":", linewidth=1,
                    label=f"{FLUENCY_RATIO:g}x (interpolation rule)")
    if lm is not None:
        if lm.get("self_bleu") is not None:
            diversity.axhline(lm["self_bleu"], color="grey", linewidth=1,
                              label="the LM's samples (self-BLEU)")
        if lm.get("distinct_2") is not None:
            twin.axhline(lm["distinct_2"], color="grey", linestyle="--", linewidth=1,
                         label="the LM's samples (distinct-2)")
    bleu.set_title("reconstruction of validation sentences (greedy)")
    bleu.set_ylabel("BLEU (0-100)")
    gap.set_title("IW-NLL minus the LM's NLL, paired (±1 SE)")
    gap.set_ylabel("nats per sentence")
    fluency.set_title("prior samples' forward PPL under the LM")
    fluency.set_ylabel("over the LM's own samples'")
    diversity.set_title("prior samples' diversity")
    diversity.set_ylabel("self-BLEU (solid; lower: more varied)")
    twin.set_ylabel("distinct-2 (dashed)")
    for axis in (bleu, gap, fluency):
        axis.legend(fontsize="small", loc="best")
    handles, labels = diversity.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    diversity.legend(handles + more, labels + more_labels, fontsize="small", loc="best")
    for axis in (bleu, gap, fluency, diversity):
        axis.grid(alpha=0.3)
    for axis in (fluency, diversity):
        axis.set_xlabel("rate: KL(q(z|x) || N(0, I)), nats per sentence (validation)")
    figure.suptitle("textvae sweep: the rate against reconstruction, likelihood, fluency and "
                    "diversity (ringed: recommended)")
    return write_with(out, lambda temp: figure.savefig(temp, format="png", dpi=DPI),
                      make_parents=True)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def render_sweep_page(*, title: str, summary: Sequence[str], rows: Sequence[dict[str, Any]],
                      choices: dict[str, Choice], png: bytes | None) -> str:
    """The HTML document: the plan, the recommendations (with any warning), the picture, the
    table of every point and the command that trains each."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>",
           f"<h1>{_e(title)}</h1>"]
    out += [f"<p>{_e(line)}</p>" for line in summary]
    out.append("<h2>Recommended</h2><table><tr><th>job</th><th>point</th><th>why</th>"
               "<th>config</th></tr>")
    for job, choice in choices.items():
        out.append(f"<tr><td>{_e(job)}</td><td>{_e(choice.name)}</td><td>{_e(choice.reason)}"
                   f"</td><td><code>recommended/{_e(job)}.yaml</code></td></tr>")
    out.append("</table>")
    out += [f'<p class="note">warning: {_e(c.warning)}</p>' for c in choices.values() if c.warning]
    out.append(f'<p class="caption">Rules: likelihood, the lowest IW-NLL paired against the LM; '
               f"interpolation, the highest reconstruction BLEU among points whose prior samples' "
               f"forward PPL is at most {FLUENCY_RATIO:g}x the LM samples' and whose interior "
               f"homotopy points change at least {CHANGE_SHARE:.0%} of the time, else the highest "
               "BLEU of all, with a warning.</p>")
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        out.append(f'<h2>Rate and distortion</h2><figure><img alt="rate_distortion" '
                   f'src="data:image/png;base64,{data}"><figcaption>Each VAE point at its '
                   "measured validation KL, one series per word-deletion value; the LM in grey."
                   "</figcaption></figure>")
    out.append("<h2>Points</h2><table><tr>"
               + "".join(f"<th>{_e(h)}</th>" for h, _, _ in COLUMNS) + "</tr>")
    number = ' class="num"'
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td{"" if i == 0 else number}>{_e(table_cell(row, key, form))}</td>'
            for i, (_, key, form) in enumerate(COLUMNS)) + "</tr>")
    out.append('</table><p class="caption">KL, MI and NLL-LM in nats per sentence; BLEU on '
               "0-100; train min: training wall time; eval s: evaluation wall time. Every figure "
               "is in sweep.json and each point's evaluation.json (docs/evaluation.md).</p>")
    out.append("<h2>Commands</h2><table><tr><th>point</th><th>trains it again</th></tr>")
    out += [f"<tr><td>{_e(r['name'])}</td><td><code>{_e(r.get('command', ''))}</code></td></tr>"
            for r in rows]
    out += ["</table>", "</main></body></html>", ""]
    return "\n".join(out)


def write_sweep_page(out: str | os.PathLike[str], **content: Any) -> Path:
    """Write :func:`render_sweep_page` to ``out`` (atomically)."""
    return write_text(out, render_sweep_page(**content), make_parents=True)
