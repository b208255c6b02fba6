"""``textvae report``: one self-contained HTML page about a text run.

The page holds the run's config and its best, final and checkpoint validation figures, the
figures of its ``textvae evaluate`` reports (those in the checkpoint's folder, or the files named),
the pictures of :func:`textvae.text.viz.run.plot_run` (PNGs inlined as base64 ``data:`` URIs), prior
samples, greedy reconstructions of validation sentences and interpolations between them. It
loads nothing from anywhere (inline CSS, no scripts, no links out), so it can be mailed or
archived as one file. Every piece of text is HTML-escaped.

:func:`write_report` gathers; :func:`render_page` only formats, so it can be tested on its own.
"""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textvae.core.curves import is_number, read_metrics
from textvae.core.errors import InputError
from textvae.core.files import write_text
from textvae.text.data.grammar import is_grammatical
from textvae.text.evaluate.report_table import Rows, report_sections
from textvae.text.run.config import to_dict
from textvae.text.run.decoding import without_latents
from textvae.text.viz.run import DEFAULT_SENTENCES, plot_run

# The validation figures of metrics.jsonl's valid rows, in table order (textvae.text.training.validate).
VALID_KEYS = ("neg_elbo", "reconstruction", "kl", "ppl_bound", "active_units",
              "mutual_information")
# The settings most worth seeing at a glance; the whole config is in a folded table.
HEADLINE = ("data.source", "model.model_type", "model.encoder", "model.decoder",
            "model.rnn_type", "model.latent_dim", "model.embed_dim", "model.encoder_hidden_dim",
            "model.decoder_hidden_dim",
            "model.z_to_inputs", "train.kl.kind", "train.kl.max_weight", "train.word_dropout",
            "train.free_bits", "train.max_steps", "train.batch_size", "train.lr")
CAPTIONS = {
    "curves": "The objective trained (loss: reconstruction + KL weight x KL) and the negative "
              "ELBO at KL weight 1, over training steps (train: the last batch; valid: the "
              "whole validation split).",
    "terms": "The negative ELBO's two terms: reconstruction and KL (nats per sentence).",
    "kl_weight": "The KL term against the KL weight (Bowman et al. 2016, Figure 2).",
    "latent_pca": "Posterior means of validation sentences, projected on their first two "
                  "principal components.",
    "kl_per_dim": "KL per latent dimension, sorted, and the variance of each dimension's "
                  "posterior mean against the active-unit threshold.",
}
LM_CAPTION = ("The LM baseline's NLL per sentence (logged as 'reconstruction') and perplexity "
              "(valid only), over training steps.")

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; margin: 0; background: #f4f4f6; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 40px; background: #fff; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.25em; margin-top: 1.6em;
  border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.path { color: #666; font-family: ui-monospace, monospace; font-size: 0.9em; word-break: break-all; }
.caption { color: #555; font-size: 0.9em; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
.sentences tr.end td { background: #f0f0f3; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sentences td { font-family: ui-monospace, monospace; font-size: 0.88em; }
.sentences .mark { width: 1%; white-space: nowrap; text-align: center; font-family: inherit; }
.ok { color: #1a7f37; } .bad { color: #b42318; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px; margin: 0.5em 0; }
details summary { cursor: pointer; color: #444; }
.columns { display: flex; flex-wrap: wrap; gap: 0 28px; }
"""
# A `textvae evaluate` report on the page: its file name, what it covers, its titled sections.
Evaluation = tuple[str, str, list[tuple[str, Rows]]]


@dataclass
class PageContent:
    """Everything the page shows, as plain values (text is escaped when rendered)."""

    title: str
    run: str
    config: dict[str, Any]
    metrics_table: list[tuple[str, list[Any]]] = field(default_factory=list)  # (name, values)
    metrics_columns: list[str] = field(default_factory=list)
    pictures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG bytes
    notes: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    samples_heading: str = "greedy decode of z ~ N(0, I)"
    reconstructions: list[tuple[str, str]] = field(default_factory=list)  # (input, decode)
    interpolations: list[tuple[str, str, list[str]]] = field(default_factory=list)  # a, b, path
    subtitle: str = ""
    grammar: bool = False  # mark each generated sentence grammatical or not
    captions: dict[str, str] = field(default_factory=lambda: dict(CAPTIONS))
    # `textvae evaluate` reports: (file name, what it covers, its sections of (label, value) rows)
    evaluations: list[Evaluation] = field(default_factory=list)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"kl": {"k": 1}}}`` -> ``{"train.kl.k": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def validation_table(
    rows: Sequence[dict], checkpoint_meta: dict | None
) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """The validation figures of the best (lowest ``neg_elbo``) and last validation rows of
    ``metrics.jsonl``, and those saved with the loaded checkpoint.

    Returns:
        ``(columns, rows)``: column headings, and per figure of :data:`VALID_KEYS` that any
        column has, its name and one value per column (None where absent).
    """
    valid = [row for row in rows if row.get("split") == "valid"]
    columns: list[tuple[str, dict]] = []
    scored = [row for row in valid if is_number(row.get("neg_elbo"))]
    if scored:
        best = min(scored, key=lambda row: row["neg_elbo"])
        columns.append((f"best (step {best['step']})", best))
    if valid:
        final = max(valid, key=lambda row: row["step"])
        columns.append((f"final (step {final['step']})", final))
    meta = checkpoint_meta or {}
    figures = meta.get("valid")
    if isinstance(figures, dict):
        columns.append((f"loaded checkpoint (step {meta.get('step')})", figures))
    table = [(key, [col.get(key) for _, col in columns]) for key in VALID_KEYS
             if any(is_number(col.get(key)) for _, col in columns)]
    return [name for name, _ in columns], table


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not is_number(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.1f}"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _mark(sentence: str, grammar: bool) -> str:
    if not grammar:
        return ""
    if is_grammatical(sentence):
        return '<td class="mark ok" title="the grammar can produce it">&#10003;</td>'
    return '<td class="mark bad" title="the grammar cannot produce it">&#10007;</td>'


def _config_section(config: dict[str, Any]) -> list[str]:
    flat = flatten(config)
    head = [key for key in HEADLINE if key in flat]
    out = ["<h2>Config</h2>", "<table>"]
    out += [f"<tr><th>{_e(k)}</th><td>{_e(flat[k])}</td></tr>" for k in head]
    out += ["</table>", "<details><summary>the whole config</summary><table>"]
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in flat.items()]
    out += ["</table></details>"]
    return out


def _sentence_rows(sentences: Sequence[str], grammar: bool) -> list[str]:
    return [f"<tr><td>{_e(s)}</td>{_mark(s, grammar)}</tr>" for s in sentences]


def render_page(page: PageContent) -> str:
    """The whole HTML document."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_e(page.title)}</title><style>{STYLE}</style></head><body><main>",
           f"<h1>{_e(page.title)}</h1>", f'<p class="path">{_e(page.run)}</p>']
    if page.subtitle:
        out.append(f"<p>{_e(page.subtitle)}</p>")
    out += [f'<p class="note">{_e(note)}</p>' for note in page.notes]
    out += ["<div class=\"columns\"><div>"] + _config_section(page.config) + ["</div><div>"]
    out.append("<h2>Validation</h2>")
    if page.metrics_table:
        out.append("<table><tr><th>figure</th>"
                   + "".join(f"<th>{_e(c)}</th>" for c in page.metrics_columns) + "</tr>")
        for name, values in page.metrics_table:
            cells = "".join(f'<td class="num">{_e(_number(v))}</td>' for v in values)
            out.append(f"<tr><th>{_e(name)}</th>{cells}</tr>")
        out.append('</table><p class="caption">nats per sentence; ppl_bound: '
                   "exp(-ELBO / tokens), an upper bound on the perplexity (exact for an LM "
                   "baseline)</p>")
    else:
        out.append("<p>No validation figures were logged.</p>")
    out.append("</div></div>")
    if page.evaluations:
        out += _evaluation_section(page)
    if page.pictures:
        out.append("<h2>Pictures</h2>")
    for name, png in page.pictures.items():
        data = base64.b64encode(png).decode("ascii")
        out.append(f'<figure><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{_e(page.captions.get(name, name))}</figcaption></figure>")
    mark_head = '<th class="mark">grammatical</th>' if page.grammar else ""
    if page.samples:
        out += ["<h2>Samples</h2>", '<table class="sentences">'
                f"<tr><th>{_e(page.samples_heading)}</th>{mark_head}</tr>"]
        out += _sentence_rows(page.samples, page.grammar) + ["</table>"]
    if page.reconstructions:
        out += ["<h2>Reconstructions</h2>",
                '<table class="sentences"><tr><th>validation sentence</th>'
                f"<th>greedy decode of its posterior mean</th>{mark_head}</tr>"]
        for source, decode in page.reconstructions:
            same = ' class="ok"' if decode == source else ""
            out.append(f"<tr><td>{_e(source)}</td><td{same}>{_e(decode)}</td>"
                       f"{_mark(decode, page.grammar)}</tr>")
        out.append("</table>")
    for number, (a, b, path) in enumerate(page.interpolations, start=1):
        if number == 1:
            out.append("<h2>Interpolations between posterior means</h2>")
        out += [f"<h3>Path {number}</h3>", '<table class="sentences">',
                f'<tr class="end"><td>from: {_e(a)}</td>{mark_head}</tr>']
        out += _sentence_rows(path, page.grammar)
        out += [f'<tr class="end"><td>to: {_e(b)}</td>{"<td></td>" if page.grammar else ""}'
                "</tr></table>"]
    if page.interpolations:
        out.append('<p class="caption">Greedy decodes of evenly spaced points on the straight '
                   "line between the two sentences' posterior means, both ends included.</p>")
    out += ["</main></body></html>", ""]
    return "\n".join(out)


def _evaluation_section(page: PageContent) -> list[str]:
    out = ["<h2>Evaluation</h2>"]
    for name, summary, sections in page.evaluations:
        out += [f"<h3>{_e(name)}</h3>", f'<p class="caption">{_e(summary)}</p>', "<table>"]
        for title, rows in sections:
            out.append(f'<tr><th colspan="2">{_e(title)}</th></tr>')
            out += [f'<tr><td>{_e(label)}</td><td class="num">{_e(value)}</td></tr>'
                    for label, value in rows]
        out.append("</table>")
    out.append('<p class="caption">From <code>textvae evaluate</code>; docs/evaluation.md '
               "defines every figure. Reconstruction of training sentences beside the split's "
               "shows memorization; forward perplexity (fluency under the reference LM) reads "
               "against that LM's perplexity of real sentences, reverse perplexity against the "
               "LM trained on as many real sentences.</p>")
    return out


def evaluation_entry(name: str, report: dict[str, Any]) -> Evaluation:
    """One ``textvae evaluate`` report as the page shows it: its name, a line saying what it
    covers, and its sections (:func:`textvae.text.evaluate.report_table.report_sections`).

    Raises:
        KeyError: ``report`` is not such a report.
    """
    st = report["settings"]
    summary = f"{st['split']} split, {st['sentences']} sentences"
    if st.get("iw_samples"):
        summary += f", IW-NLL with K = {st['iw_samples']}"
    if st.get("reference_lm"):
        summary += f"; reference LM {st['reference_lm']}"
    return name, summary, report_sections(report)


def read_evaluations(
    folder: Path | None, files: Sequence[str | os.PathLike] | None
) -> tuple[list[Evaluation], list[str]]:
    """The evaluation reports to show: ``files``, else every ``eval-*.json`` that ``textvae
    evaluate`` wrote into the checkpoint ``folder`` (a labelled run's ``eval-labels-*`` aside).

    Returns:
        ``(entries, notes)``: :func:`evaluation_entry` of each report read, and a note for each
        found file that is not one (named files must be).

    Raises:
        InputError: a named file is missing or not an evaluation report.
    """
    named = files is not None
    if files is not None:
        paths = [Path(f) for f in files]
    elif folder is not None:
        paths = sorted(p for p in folder.glob("eval-*.json")
                       if not p.name.startswith("eval-labels-"))
    else:
        paths = []
    entries: list[Evaluation] = []
    notes: list[str] = []
    for path in paths:
        try:
            entries.append(evaluation_entry(path.name, json.loads(path.read_text("utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as err:
            problem = " ".join(f"{path} is not a readable `textvae evaluate` report "
                               f"({type(err).__name__}: {err})".split())
            if named:
                raise InputError(problem) from None
            notes.append(problem)
    return entries, notes


def _checkpoint_meta(path: Path | None) -> dict | None:
    if path is None or not (path / "meta.json").is_file():
        return None
    return json.loads((path / "meta.json").read_text(encoding="utf-8"))


def write_report(
    run: str | os.PathLike,
    out: str | os.PathLike,
    *,
    sentences: int = DEFAULT_SENTENCES,
    samples: int = 10,
    reconstructions: int = 8,
    interpolations: int = 2,
    steps: int = 7,
    seed: int = 0,
    device: str = "auto",
    evaluations: Sequence[str | os.PathLike] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Write the HTML report of a text run (atomically, :func:`textvae.core.files.write_text`).

    Args:
        run: a run directory or checkpoint.
        out: the HTML file to write.
        sentences: validation sentences encoded for the latent pictures.
        samples: prior samples (greedy decodes of z ~ N(0, I); the LM samples its tokens).
        reconstructions: validation sentences reconstructed.
        interpolations: interpolation paths, between pairs of validation sentences.
        steps: points on each path, both ends included.
        seed: seeds the sentence subset and the prior draws.
        device: where to run the model.
        evaluations: ``textvae evaluate`` reports (JSON) to show; None: those in the
            checkpoint's folder (:func:`read_evaluations`).
        log: where progress lines go.

    Returns:
        ``out`` as a Path.
    """
    # Named reports are read first: one that is none is refused before the pictures' minutes.
    given = None if evaluations is None else read_evaluations(None, evaluations)
    with tempfile.TemporaryDirectory(prefix="textvae-report-") as tmp:
        pictures = plot_run(run, tmp, sentences=sentences, seed=seed, device=device, log=log)
        pngs = {name: path.read_bytes() for name, path in pictures.paths.items()}
    tv = pictures.tv
    assert tv is not None  # plot_run loads it
    rows: list[dict] = []
    if pictures.metrics is not None:
        try:
            rows = read_metrics(pictures.metrics)
        except ValueError:  # malformed: plot_run's notes already say so
            rows = []
    meta = _checkpoint_meta(tv.path) or {}
    columns, table = validation_table(rows, meta)
    evaluated, unread = given if given is not None else read_evaluations(tv.path, None)
    named = pictures.metrics.parent if pictures.metrics is not None else Path(run).resolve()
    page = PageContent(
        title=f"textvae run: {named.name}",
        subtitle=f"{tv.model_type} model; the checkpoint of step {meta.get('step', '?')}",
        run=str(Path(run).resolve()), config=to_dict(tv.config), metrics_table=table,
        metrics_columns=columns, pictures=pngs, notes=[*pictures.notes, *unread],
        grammar=tv.config.data.source == "grammar", evaluations=evaluated,
    )
    if not tv.model.is_vae:
        page.captions["curves"] = LM_CAPTION
        page.samples_heading = "sampled from the language model, token by token"
    log(f"decoding {samples} prior samples")
    page.samples = without_latents(tv.sample(samples, seed=seed)) if samples else []
    encoded = pictures.posteriors.sentences if pictures.posteriors is not None else []
    if encoded and reconstructions:
        chosen = encoded[:reconstructions]
        decodes = without_latents(tv.reconstruct(chosen))  # per sentence, its one decode
        page.reconstructions = [(s, d[0]) for s, d in zip(chosen, decodes, strict=True)]
    # Pairs after the reconstructed sentences, wrapping round a short subset.
    for i in range(interpolations if len(encoded) >= 2 else 0):
        first = reconstructions + 2 * i
        a, b = encoded[first % len(encoded)], encoded[(first + 1) % len(encoded)]
        page.interpolations.append((a, b, without_latents(tv.interpolate(a, b, steps=steps))))
    return write_text(out, render_page(page))
