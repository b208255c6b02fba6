"""The pictures of one text run, from its run directory or a checkpoint: what ``textvae plot``
writes and ``textvae report`` inlines.

:func:`plot_run` writes the training curves (from ``metrics.jsonl``) and, for a VAE, the
latent pictures of a seeded subset of validation sentences (:mod:`.latents`, :mod:`.plots`).
An LM baseline has no latent space: it gets its curves only, and a note says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textvae.text.api import TextVAE, load
from textvae.text.viz.latents import (
    Posteriors,
    corpus_labels,
    encode_sentences,
    pca_2d,
    validation_subset,
)
from textvae.text.viz.plots import (
    LM_CURVES,
    VAE_CURVES,
    plot_kl_per_dim,
    plot_kl_vs_weight,
    plot_latent_pca,
    plot_loss_curves,
)

METRICS_FILE = "metrics.jsonl"
DEFAULT_SENTENCES = 2000

# File names, in the order the pictures are made and shown.
FILES = {
    "curves": "curves.png",
    "terms": "loss_terms.png",
    "kl_weight": "kl_vs_weight.png",
    "latent_pca": "latent_pca.png",
    "kl_per_dim": "kl_per_dim.png",
}


@dataclass
class RunPictures:
    """What :func:`plot_run` made.

    Attributes:
        paths: picture name (a key of :data:`FILES`) to the PNG written, in order.
        notes: one line for each picture left out, and why.
        tv: the loaded model (for the report's decodes).
        posteriors: the encoded validation sentences (None for an LM baseline).
        labels: their factors (None for a corpus without labels).
        metrics: the run's metrics file, if one was found.
    """

    paths: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tv: TextVAE | None = None
    posteriors: Posteriors | None = None
    labels: dict[str, list[Any]] | None = None
    metrics: Path | None = None


def run_directory(run: str | os.PathLike) -> Path | None:
    """The run directory behind ``run`` (the folder holding ``metrics.jsonl``): ``run`` itself,
    or for a checkpoint (``RUN/best``, ``RUN/checkpoints/step-N``) the run it belongs to; None
    for a checkpoint copied away from its run."""
    path = Path(run)
    for candidate in (path, path.parent, path.resolve().parent.parent):
        if (candidate / METRICS_FILE).is_file():
            return candidate
    return None


def plot_run(
    run: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    tv: TextVAE | None = None,
    sentences: int = DEFAULT_SENTENCES,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], None] = lambda message: None,
) -> RunPictures:
    """Write the pictures of a text run into ``out_dir`` (created if missing).

    Args:
        run: a run directory or a checkpoint directory.
        out_dir: where the PNGs go (names: :data:`FILES`).
        tv: the run's model, if the caller has already loaded it.
        sentences: validation sentences to encode for the latent pictures (a subset drawn with
            ``seed``).
        seed: seeds that subset.
        device: where to run the encoder.
        log: where progress lines go.

    Returns:
        The pictures written and the notes on those left out.

    Raises:
        CheckpointError: ``run`` holds no loadable text checkpoint.
    """
    tv = load(run, device=device) if tv is None else tv
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = RunPictures(tv=tv)
    run_dir = run_directory(run)
    lm = not tv.model.is_vae
    if run_dir is None:
        result.notes.append(f"no {METRICS_FILE} beside {run}: no training curves")
    else:
        result.metrics = run_dir / METRICS_FILE
        for name, keys in (LM_CURVES if lm else VAE_CURVES).items():
            try:
                result.paths[name] = plot_loss_curves(result.metrics, out / FILES[name], keys)
            except ValueError as err:  # an empty or malformed metrics file: say so, go on
                result.notes.append(f"no {'/'.join(keys)} curves: {err}")
        if not lm:
            try:
                result.paths["kl_weight"] = plot_kl_vs_weight(result.metrics,
                                                              out / FILES["kl_weight"])
            except ValueError as err:
                result.notes.append(f"no KL-against-weight curve: {err}")
    if lm:
        result.notes.append(
            "an LM baseline (model_type 'lm') has no latent space: training curves only, no "
            "KL curve, latent PCA or KL per dimension"
        )
        return result

    log(f"encoding up to {sentences} validation sentences (seed {seed})")
    posteriors = encode_sentences(tv, validation_subset(tv.config, sentences, seed))
    result.posteriors = posteriors
    result.labels = corpus_labels(tv.config, posteriors.sentences)
    if len(posteriors.sentences) >= 2:
        points, explained = pca_2d(posteriors.mu)
        result.paths["latent_pca"] = plot_latent_pca(
            points, explained, out / FILES["latent_pca"], result.labels,
            title="validation posterior means",
        )
    else:
        result.notes.append("fewer than 2 validation sentences to encode: no latent PCA")
    if posteriors.sentences:
        result.paths["kl_per_dim"] = plot_kl_per_dim(posteriors.mu, posteriors.logvar,
                                                     out / FILES["kl_per_dim"])
    if result.labels is None:
        result.notes.append(
            f"the corpus (data.source {tv.config.data.source!r}) has no labels: the PCA is "
            "uncoloured"
        )
    return result
