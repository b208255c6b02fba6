"""Two models compared on the same sentences: the per-sentence difference of their negative log
likelihoods (a VAE's IW-NLL, an LM's exact NLL), as RESULTS.md, ``textvae sweep`` and ``textvae
compare`` report it. Pure: reports (the JSON of ``textvae evaluate``) in, numbers and text out.

Why paired: sentence lengths make each model's mean NLL vary by several nats between subsets of
a split, but two models' NLLs of one sentence move together, so the standard error of the mean
difference is far smaller than either mean's (0.05 against 0.85 nats on the PTB test split).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from textvae.core.errors import InputError


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``textvae evaluate`` report with per-sentence figures, read from its JSON file.

    Raises:
        InputError: the file is missing, a folder, not JSON, or not such a report (a labelled
            run's ``eval-labels-*.json`` has no per-sentence likelihoods).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder: give one of the eval-*.json reports that "
                         "`textvae evaluate` wrote into it")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the report {path}: {err}") from None
    per_sentence = report.get("per_sentence") if isinstance(report, dict) else None
    if (not isinstance(per_sentence, dict)
            or not {"iw_nll_nats", "split_index"} <= per_sentence.keys()
            or not {"settings", "likelihood"} <= report.keys()):
        raise InputError(f"{path} is not a `textvae evaluate` report with per-sentence "
                         "likelihoods (a text VAE's or LM's, not a labelled run's)")
    return report


def paired_difference(report: dict[str, Any], other: dict[str, Any]) -> tuple[float, float | None]:
    """The mean and standard error of the per-sentence difference (this model's IW-NLL, or exact
    NLL for an LM, minus the other's) over the same sentences.

    Returns:
        ``(mean, se)`` in nats per sentence; ``se`` None for a single sentence.

    Raises:
        InputError: the two reports scored different sentences (another split, subset or seed).
    """
    split, other_split = (r.get("settings", {}).get("split") for r in (report, other))
    if split != other_split:
        raise InputError(f"one report is on the {split} split, the other on the {other_split} "
                         "split: pair reports of the same sentences")
    if report["per_sentence"]["split_index"] != other["per_sentence"]["split_index"]:
        raise InputError("the two reports scored different sentences; evaluate both on the "
                         "same split with the same --sentences and --seed (or both on all of it)")
    diff = [a - b for a, b in zip(report["per_sentence"]["iw_nll_nats"],
                                  other["per_sentence"]["iw_nll_nats"], strict=True)]
    mean = sum(diff) / len(diff)
    if len(diff) < 2:
        return mean, None
    variance = sum((d - mean) ** 2 for d in diff) / (len(diff) - 1)
    return mean, math.sqrt(variance / len(diff))


def nll_per_sentence(report: dict[str, Any]) -> tuple[float, str]:
    """The report's mean NLL in nats per sentence and what it is ("IW-NLL, K = 500" for a VAE,
    "exact NLL" for an LM)."""
    likelihood = report["likelihood"]
    if "iw_nll_nats_per_sentence" in likelihood:
        return likelihood["iw_nll_nats_per_sentence"], f"IW-NLL, K = {report['settings']['iw_samples']}"
    return likelihood["nll_nats_per_sentence"], "exact NLL"


def format_comparison(name: str, report: dict[str, Any], other_name: str,
                      other: dict[str, Any]) -> str:
    """The lines ``textvae compare`` prints: each model's mean NLL, then the paired difference
    with its standard error and how many standard errors from zero it lies."""
    mean, se = paired_difference(report, other)
    lines = []
    for label, shown, r in (("A", name, report), ("B", other_name, other)):
        nll, kind = nll_per_sentence(r)
        lines.append(f"{label}: {nll:.2f} nats/sentence ({kind})  {shown}")
    sentences = len(report["per_sentence"]["iw_nll_nats"])
    scope = f"{sentences} {report.get('settings', {}).get('split', '?')} sentences"
    if se is None:
        lines.append(f"A - B, paired over {scope}: {mean:+.2f} nats/sentence (one sentence: "
                     "no standard error)")
    else:
        ratio = f"{abs(mean) / se:.1f} standard errors" if se > 0 else "no spread"
        lines.append(f"A - B, paired over {scope}: {mean:+.2f} ± {se:.2f} nats/sentence "
                     f"({ratio} {'below' if mean < 0 else 'above'} zero)")
    return "\n".join(lines)
