"""The training curves of any run, text or image: reading its ``metrics.jsonl`` and plotting it.

Shared by ``textvae plot`` / ``textvae report`` (:mod:`textvae.text.viz`) and ``textvae image plot``
(:mod:`textvae.image`). matplotlib is used without pyplot, so no GUI backend or global figure
state is involved; the PNG is written whole or not at all (:func:`textvae.core.files.write_with`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from textvae.core.files import write_with

_NOT_PLOTTED = ("step", "epoch")


def read_metrics(path: Path) -> list[dict]:
    """The rows of a run's ``metrics.jsonl`` (blank lines skipped); a bad row is a ValueError."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number} is not JSON: {err}") from err
        if not isinstance(row, dict) or "step" not in row:
            raise ValueError(f"{path}:{number} must be a JSON object with a 'step'")
        rows.append(row)
    return rows


def is_number(value) -> bool:
    """A logged number (JSON true/false are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def plot_curves(
    metrics_jsonl: str | os.PathLike, out: str | os.PathLike, keys: Sequence[str] | None = None
) -> Path:
    """Plot metrics against step from a run's ``metrics.jsonl``, one subplot per key and one line
    per split ("train", "valid"; rows without a split are labelled "all").

    Args:
        metrics_jsonl: file with one JSON object per line holding "step", usually "split", and
            numeric metrics.
        out: the PNG to write.
        keys: metrics to plot (default every numeric key except step and epoch, in order of
            first appearance).

    Raises:
        ValueError: on a malformed line, a file with no rows, or a requested key that never
            appears with a numeric value (the message lists the keys that do).
    """
    from matplotlib.figure import Figure

    rows = read_metrics(Path(metrics_jsonl))
    available = []
    for row in rows:
        for key, value in row.items():
            if key not in _NOT_PLOTTED and is_number(value) and key not in available:
                available.append(key)
    if not rows or not available:
        raise ValueError(f"{metrics_jsonl} has no numeric metrics to plot")
    keys = available if keys is None else list(keys)
    missing = [k for k in keys if k not in available]
    if missing or not keys:
        raise ValueError(f"cannot plot {missing or keys}; numeric keys present: {available}")

    figure = Figure(figsize=(4.5 * len(keys), 3.2), layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False)[0]
    splits = list(dict.fromkeys(row.get("split", "all") for row in rows))
    for axis, key in zip(axes, keys, strict=True):
        for split in splits:
            points = [
                (row["step"], row[key])
                for row in rows
                if row.get("split", "all") == split and is_number(row.get(key))
            ]
            if points:
                steps, values = zip(*sorted(points), strict=True)
                axis.plot(steps, values, label=split, marker="." if len(points) < 30 else None)
        axis.set_title(key)
        axis.set_xlabel("step")
        axis.legend()
    return write_with(
        out, lambda temp: figure.savefig(temp, format="png", dpi=100), make_parents=True
    )
