"""PNG figures of a text run: its training curves, the KL term against the KL weight, the
posterior means in 2-D and the KL per latent dimension.

The curves come from the run's ``metrics.jsonl`` (read and plotted by :mod:`textvae.core.curves`,
which every run's metrics file shares); the latent figures take
tensors, so they can be tested on posteriors with known answers. Every file is written whole or
not at all (:func:`textvae.core.files.write_with`) and matplotlib is used without pyplot.

Shapes: S = sentences, Z = latent size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from textvae.core.curves import is_number, plot_curves, read_metrics
from textvae.core.files import write_with
from textvae.core.gaussian import kl_standard_normal
from textvae.core.metrics import ACTIVE_UNIT_THRESHOLD, active_units

# The loss terms a text run logs, two panels to a picture (so that each is legible at its own
# size): the objective trained (KL-weighted) against the negative ELBO at beta = 1, then the
# ELBO's two terms. An LM baseline has no KL term: its "reconstruction" is its NLL, and
# ppl_bound its exact perplexity.
VAE_CURVES = {"curves": ("loss", "neg_elbo"), "terms": ("reconstruction", "kl")}
LM_CURVES = {"curves": ("reconstruction", "ppl_bound")}
DPI = 100
MAX_CATEGORIES = 6  # a numeric label with more values (sentence length) gets a colour scale
ACTIVE_COLOUR, INACTIVE_COLOUR = "tab:blue", "tab:gray"


def _save(figure: Any, out: str | os.PathLike) -> Path:
    return write_with(out, lambda temp: figure.savefig(temp, format="png", dpi=DPI),
                      make_parents=True)


def plot_loss_curves(
    metrics_jsonl: str | os.PathLike, out: str | os.PathLike, keys: Sequence[str]
) -> Path:
    """Metrics over steps, one panel per key, train and valid lines
    (:func:`textvae.core.curves.plot_curves`, on those of ``keys`` the run logged; a group
    of :data:`VAE_CURVES` or :data:`LM_CURVES`).

    Args:
        metrics_jsonl: the run's metrics file.
        out: the PNG to write.
        keys: the metrics to plot, if logged.

    Raises:
        ValueError: the file logs none of ``keys``, or is malformed.
    """
    wanted = tuple(keys)
    logged = {key for row in read_metrics(Path(metrics_jsonl)) for key in row}
    keys = [key for key in wanted if key in logged]
    if not keys:
        raise ValueError(f"{metrics_jsonl} logs none of {list(wanted)}")
    return plot_curves(metrics_jsonl, out, keys=keys)


def kl_and_weight(rows: Sequence[dict]) -> dict[str, list[float]]:
    """The columns Bowman et al. 2016's Figure 2 plots, from rows of ``metrics.jsonl``.

    Returns:
        ``step``, ``kl`` and ``kl_weight`` of the train rows that log both (each the last
        training batch's value), and ``valid_step`` and ``valid_kl`` of the validation rows
        (the KL over the whole validation split).

    Raises:
        ValueError: no train row logs both ``kl`` and ``kl_weight`` (an LM baseline, or not a
            text run).
    """
    train = sorted((row["step"], row["kl"], row["kl_weight"]) for row in rows
                   if row.get("split") == "train" and is_number(row.get("kl"))
                   and is_number(row.get("kl_weight")))
    if not train:
        raise ValueError("no train row logs both 'kl' and 'kl_weight'")
    valid = sorted((row["step"], row["kl"]) for row in rows
                   if row.get("split") == "valid" and is_number(row.get("kl")))
    return {
        "step": [float(s) for s, _, _ in train], "kl": [float(k) for _, k, _ in train],
        "kl_weight": [float(w) for _, _, w in train],
        "valid_step": [float(s) for s, _ in valid], "valid_kl": [float(k) for _, k in valid],
    }


def plot_kl_vs_weight(metrics_jsonl: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The KL term (left axis) and the KL weight (right axis) against the step, on twin axes:
    Bowman et al. 2016, Figure 2. Columns: :func:`kl_and_weight`.

    Raises:
        ValueError: the file logs no KL and KL weight, or is malformed.
    """
    from matplotlib.figure import Figure

    series = kl_and_weight(read_metrics(Path(metrics_jsonl)))
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axis = figure.subplots()
    lines = axis.plot(series["step"], series["kl"], color="tab:blue", linewidth=1,
                      label="KL (train batch)")
    if series["valid_step"]:
        lines += axis.plot(series["valid_step"], series["valid_kl"], color="tab:blue",
                           marker="o", linestyle="none", label="KL (validation)")
    axis.set_xlabel("step")
    axis.set_ylabel("KL term (nats per sentence)", color="tab:blue")
    axis.set_ylim(bottom=0)
    twin = axis.twinx()
    lines += twin.plot(series["step"], series["kl_weight"], color="tab:orange", linestyle="--",
                       linewidth=2, label="KL weight")
    twin.set_ylabel("KL weight", color="tab:orange")
    # Scaled to the weights logged, so that the early part of a long anneal still shows its
    # shape (the tick labels give the scale).
    twin.set_ylim(0, (max(series["kl_weight"]) or 1.0) * 1.1)
    figure.legend(lines, [str(line.get_label()) for line in lines], loc="outside lower center",
                  ncols=len(lines))
    axis.set_title("KL term and KL weight during training (Bowman et al. 2016, Fig. 2)")
    return _save(figure, out)


def _categories(values: Sequence[Any]) -> list[Any] | None:
    """The distinct values in legend order, or None for a numeric factor with more than
    :data:`MAX_CATEGORIES` values (drawn on a colour scale)."""
    present = {v for v in values if v is not None}
    if all(is_number(v) for v in present):
        return sorted(present) if len(present) <= MAX_CATEGORIES else None
    return sorted(present, key=str)


def _name(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def plot_latent_pca(
    points: Tensor, explained: Tensor, out: str | os.PathLike,
    labels: Mapping[str, Sequence[Any]] | None = None, *, title: str = "posterior means",
) -> Path:
    """A scatter of 2-D points (the PCA of posterior means), one panel per label, coloured by
    it; a single uncoloured panel without labels.

    Args:
        points: (S, 2) coordinates.
        explained: (2,) fraction of variance along each axis, for the axis titles.
        out: the PNG to write.
        labels: per factor name, S values (None: unknown, drawn grey). A non-numeric factor, or
            a numeric one with at most ``MAX_CATEGORIES`` values, gets one colour per value and
            a legend; a numeric one with more (sentence length), a colour scale.
        title: what the points are, for the figure's title.

    Raises:
        ValueError: a label's values are not one per point.
    """
    from matplotlib.figure import Figure

    labels = labels or {}
    for factor, values in labels.items():
        if len(values) != points.shape[0]:
            raise ValueError(f"{len(values)} {factor} labels for {points.shape[0]} points")
    panels: list[str | None] = [*labels] or [None]
    columns = min(len(panels), 3)
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    x, y = points[:, 0].tolist(), points[:, 1].tolist()
    size = 6 if len(x) > 500 else 14
    for axis, panel in zip(axes, panels, strict=False):
        axis.set_xlabel(f"PC 1 ({100 * float(explained[0]):.0f}% of variance)")
        axis.set_ylabel(f"PC 2 ({100 * float(explained[1]):.0f}%)")
        if panel is None:
            axis.scatter(x, y, s=size, color="tab:blue", alpha=0.6, linewidths=0)
            axis.set_title(f"{len(x)} sentences (no labels)")
            continue
        values = list(labels[panel])
        axis.set_title(f"coloured by {panel}")
        unknown = [i for i, v in enumerate(values) if v is None]
        if unknown:
            axis.scatter([x[i] for i in unknown], [y[i] for i in unknown], s=size,
                         color="lightgray", linewidths=0, label="unparsed")
        categories = _categories(values)
        if categories is not None:
            for value in categories:
                rows_of = [i for i, v in enumerate(values) if v == value]
                axis.scatter([x[i] for i in rows_of], [y[i] for i in rows_of], s=size,
                             alpha=0.6, linewidths=0, label=_name(value))
            axis.legend(fontsize="small", markerscale=2, loc="best")
        else:
            known = [i for i, v in enumerate(values) if v is not None]
            scatter = axis.scatter([x[i] for i in known], [y[i] for i in known], s=size,
                                   c=[float(values[i]) for i in known], cmap="viridis",
                                   alpha=0.8, linewidths=0)
            figure.colorbar(scatter, ax=axis, label=panel)
    for axis in axes[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(f"PCA of {len(x)} {title}")
    return _save(figure, out)


def kl_per_dimension(mu: Tensor, logvar: Tensor) -> dict[str, Any]:
    """KL(q(z_d | x) || N(0, 1)) per latent dimension, averaged over sentences, with the
    variance of each dimension's posterior mean (what active units count, Burda et al. 2016).

    Args:
        mu: (S, Z) posterior means.
        logvar: (S, Z) posterior log-variances.

    Returns:
        ``kl`` (Z,) nats per sentence, ``mean_variance`` (Z,) Var_x(mu_d), ``active`` (Z,)
        bool, ``active_units`` (:func:`textvae.core.metrics.active_units`) and ``order``: the
        dimensions by decreasing KL.
    """
    kl = kl_standard_normal(mu.double(), logvar.double()).mean(0)  # (Z,)
    variance = mu.double().var(0) if mu.shape[0] > 1 else mu.new_zeros(mu.shape[1]).double()
    return {
        "kl": kl, "mean_variance": variance, "active": variance > ACTIVE_UNIT_THRESHOLD,
        "active_units": active_units(mu), "order": kl.argsort(descending=True, stable=True),
    }


def plot_kl_per_dim(mu: Tensor, logvar: Tensor, out: str | os.PathLike) -> Path:
    """Two bar charts over the latent dimensions, sorted by KL: the KL of each (active units
    blue, inactive grey), and the variance of its posterior mean on a log scale, with the
    active-unit threshold as a line.

    Args:
        mu: (S, Z) posterior means.
        logvar: (S, Z) posterior log-variances.
        out: the PNG to write.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    stats = kl_per_dimension(mu, logvar)
    order = stats["order"].tolist()
    z_dim = len(order)
    positions = list(range(z_dim))
    colours = [ACTIVE_COLOUR if stats["active"][d] else INACTIVE_COLOUR for d in order]
    figure = Figure(figsize=(min(max(6.0, 0.3 * z_dim + 2), 11), 5.6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.bar(positions, [float(stats["kl"][d]) for d in order], color=colours)
    top.set_ylabel("KL (nats per sentence)")
    top.set_title(
        f"KL per latent dimension, sorted\ntotal {float(stats['kl'].sum()):.2f} nats per "
        f"sentence; {stats['active_units']} of {z_dim} units active"
    )
    top.legend(handles=[Patch(color=ACTIVE_COLOUR, label="active"),
                        Patch(color=INACTIVE_COLOUR, label="inactive")], loc="upper right")
    # A floor, so that a collapsed dimension (variance ~ 0) still draws on the log scale.
    floor = 1e-8
    heights = [max(float(stats["mean_variance"][d]), floor) for d in order]
    bottom.bar(positions, heights, color=colours)
    bottom.axhline(ACTIVE_UNIT_THRESHOLD, color="tab:red", linestyle="--",
                   label=f"active-unit threshold ({ACTIVE_UNIT_THRESHOLD})")
    bottom.set_yscale("log")
    # Room below the threshold line, and above the bars for the legend.
    bottom.set_ylim(min(ACTIVE_UNIT_THRESHOLD / 10, bottom.get_ylim()[0]),
                    max(heights + [ACTIVE_UNIT_THRESHOLD]) * 30)
    bottom.set_ylabel("Var$_x$ E[$z_d$ | x]")
    bottom.legend(loc="upper right")
    bottom.set_xticks(positions, [f"z{d}" for d in order],
                      rotation=90 if z_dim > 16 else 0, fontsize="small")
    bottom.set_xlabel("latent dimension")
    return _save(figure, out)
