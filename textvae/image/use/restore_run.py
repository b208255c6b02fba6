"""Using a trained image-to-image VAE (``data.degrade`` set): restoring image files, the
evaluation figures, the pictures; and the checkerboard comparison of two convolutional VAEs.

- :func:`restore_files`: degraded PNGs in, restored PNGs out. Every input is read and checked
  (exists, is an image, has the size the run expects: 28x28 for ``noise`` and ``mask``, 14x14
  for ``downsample``) before anything is written, so a bad input costs one error and no files.
- :func:`degraded_split`, :func:`restoration_report`: the figures ``textvae image evaluate``
  adds for a restoration run (textvae.image.objectives.restore's PSNRs and baselines).
- :func:`save_restoration_pictures`: rows of degraded / restored / clean test images.
- :func:`checkerboard_metrics`, :func:`save_checkerboard_pair`: textvae.image.objectives.checkerboard's
  score on prior samples and reconstructions, and the side-by-side picture of two runs.

The restoration is the decoder's mean at the posterior mean of the degraded image
(:func:`textvae.image.use.generate.reconstruct` on the encoder's input).

Shapes: N = images, C = channels, H x W = the clean size, h x w = the observed size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from textvae.core.errors import InputError, TextVAEError
from textvae.image.models.vae import ImageVAE
from textvae.image.objectives.checkerboard import checkerboard_score
from textvae.image.objectives.restore import restoration_metrics
from textvae.image.pixels import pictures
from textvae.image.pixels.pictures import read_image_file
from textvae.image.run.config import ImageConfig
from textvae.image.run.data import evaluation_images, load_image_splits
from textvae.image.run.degrade import Degraded, degrade_split, encoder_input, upsample_nearest
from textvae.image.training.train import load_image_model
from textvae.image.use.generate import reconstruct, sample_images


def restore_images(model: nn.Module, inputs: Tensor, batch_size: int = 500) -> Tensor:
    """Encoder inputs (N, C, H, W) -> restorations (N, C, H, W) in [0, 1], on the CPU."""
    return torch.cat([reconstruct(model, batch).cpu() for batch in inputs.split(batch_size)])


def _split_images(cfg: ImageConfig, split: str) -> Tensor:
    """The evaluation copy of a whole split (binarized once where the run is binary)."""
    data = load_image_splits(cfg.data, splits=(split,))
    if split not in data.images:
        raise TextVAEError(f"the run's data has no {split!r} split (data.valid_size is 0?)")
    return evaluation_images(cfg.data, data.images[split], split)


def degraded_split(cfg: ImageConfig, split: str, max_images: int | None = None,
                   offset: int = 0) -> tuple[Tensor, Degraded]:
    """A split's clean images and their fixed degradation, images [offset, offset + max_images).
    The whole split is degraded before slicing, so a slice sees the draw a full run sees."""
    clean = _split_images(cfg, split)
    degraded = degrade_split(cfg.data, clean, split)
    end = None if max_images is None else offset + max_images
    hidden = None if degraded.hidden is None else degraded.hidden[offset:end]
    return clean[offset:end], Degraded(degraded.observed[offset:end],
                                       degraded.encoder_input[offset:end], hidden)


def restoration_report(model: nn.Module, cfg: ImageConfig, clean: Tensor,
                       degraded: Degraded) -> dict:
    """textvae.image.objectives.restore's figures for the model's restorations of ``degraded``."""
    restored = restore_images(model, degraded.encoder_input)
    return {"degrade": cfg.data.degrade,
            **restoration_metrics(clean, degraded, restored, cfg.data.degrade)}


# -- files ---------------------------------------------------------------------------------------


def observed_size(cfg: ImageConfig) -> int:
    """The side of the degraded images a run restores (half the model's for ``downsample``)."""
    side = cfg.model.image_size
    return side // 2 if cfg.data.degrade == "downsample" else side


def output_paths(inputs: Sequence[str | Path], out: str | Path | None,
                 out_dir: str | Path | None) -> list[Path]:
    """Where each input's restoration goes: ``out`` for a single input, else
    ``out_dir/<input stem>.png`` (two inputs of one stem are an error)."""
    if out is not None:
        if len(inputs) != 1:
            raise InputError(f"--out takes one input; for {len(inputs)} give --out-dir DIR")
        return [Path(out)]
    if out_dir is None:
        raise InputError("give --out FILE (one input) or --out-dir DIR")
    paths = [Path(out_dir) / f"{Path(p).stem}.png" for p in inputs]
    if len(set(paths)) != len(paths):
        raise InputError("two inputs share a file name; their restorations would overwrite "
                         "each other in --out-dir")
    return paths


def restore_files(run: str | Path, inputs: Sequence[str | Path], *, out: str | Path | None = None,
                  out_dir: str | Path | None = None, device: str = "auto") -> list[Path]:
    """Restore degraded image files with a restoration run; returns the written PNGs.

    Raises:
        InputError: a missing, unreadable or wrong-size input, or bad output arguments
            (checked for all inputs before any file is written).
        TextVAEError: the run is not a restoration run, or the errors of loading it.
    """
    model, cfg, _ = load_image_model(run, device)
    if cfg.data.degrade == "none":
        raise TextVAEError(f"{run} is not an image-to-image run (its data.degrade is 'none')")
    targets = output_paths(inputs, out, out_dir)
    side = observed_size(cfg)
    observed = torch.stack([read_image_file(p, cfg.model.image_channels, side, resize=False) for p in inputs])
    restored = restore_images(model, encoder_input(observed, cfg.data.degrade))  # (N, C, H, W)
    return [pictures.save_image(image, path) for image, path in zip(restored, targets, strict=True)]


def save_degraded_examples(run: str | Path, out_dir: str | Path, *, n: int = 4,
                           split: str = "test", device: str = "auto") -> list[Path]:
    """Write the first ``n`` images of a split, degraded as the run's test set is, as
    ``<split>_<i>_degraded.png`` and their originals as ``<split>_<i>_clean.png``: inputs for
    :func:`restore_files`."""
    _, cfg, _ = load_image_model(run, device)
    if cfg.data.degrade == "none":
        raise TextVAEError(f"{run} is not an image-to-image run (its data.degrade is 'none')")
    clean, degraded = degraded_split(cfg, split, n)
    written = []
    for i in range(len(clean)):
        stem = Path(out_dir) / f"{split}_{i:04d}"
        written.append(pictures.save_image(degraded.observed[i], f"{stem}_degraded.png"))
        written.append(pictures.save_image(clean[i], f"{stem}_clean.png"))
    return written


def save_restoration_pictures(run: str | Path, out: str | Path, *, n: int = 10,
                              split: str = "test", device: str = "auto") -> Path:
    """Three rows of the first ``n`` images of a split: degraded (a 14x14 input shown
    nearest-neighbour enlarged to 28x28), restored, clean."""
    model, cfg, _ = load_image_model(run, device)
    if cfg.data.degrade == "none":
        raise TextVAEError(f"{run} is not an image-to-image run (its data.degrade is 'none')")
    clean, degraded = degraded_split(cfg, split, n)
    shown = degraded.observed
    if cfg.data.degrade == "downsample":
        shown = upsample_nearest(shown)
    restored = restore_images(model, degraded.encoder_input)
    return pictures.save_grid(torch.cat([shown, restored, clean]), out, nrow=len(clean))


# -- the checkerboard comparison -----------------------------------------------------------------


def checkerboard_metrics(model: nn.Module, cfg: ImageConfig, *, split: str = "test",
                         n_samples: int = 10000, seed: int = 0) -> dict:
    """The checkerboard score (strides 2 and 4) of ``n_samples`` decoded prior samples and of
    the reconstructions of a split, against the split's grey levels (the decoder's mean
    estimates grey levels, the expectation of binarized images)."""
    data = load_image_splits(cfg.data, splits=(split,)).images[split]  # grey, (N, C, H, W)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    samples = torch.cat([sample_images(model, len(part), generator=generator).cpu()
                         for part in torch.arange(n_samples).split(500)])  # in batches of 500
    recons = restore_images(model, evaluation_images(cfg.data, data, split))
    return {f"checkerboard_score_{name}_stride{s}": round(checkerboard_score(images, data, s), 4)
            for name, images in (("samples", samples), ("reconstructions", recons))
            for s in (2, 4)}


def save_checkerboard_pair(
    runs: Sequence[str | Path], out: str | Path, *, n: int = 36, seed: int = 0, scale: int = 3,
    device: str = "auto",
) -> tuple[Path, dict]:
    """Prior samples of each run (same z for both) tiled side by side, each image enlarged
    ``scale`` x by pixel repetition so a period-2 pattern stays visible, and each run's
    checkerboard figures.

    Returns:
        (the PNG, {run: :func:`checkerboard_metrics`}).
    """
    panels, scores = [], {}
    for run in runs:
        model, cfg, _ = load_image_model(run, device)
        if not isinstance(model, ImageVAE) or cfg.model.architecture != "conv":
            raise TextVAEError(f"{run} is not a convolutional VAE; the comparison needs two")
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        samples = sample_images(model, n, generator=generator).cpu()  # (n, C, H, W)
        big = samples.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
        panels.append(pictures.tile(big, int(np.ceil(np.sqrt(n)))))  # (C, H', W')
        scores[str(run)] = {"upsample": cfg.model.upsample,
                            **checkerboard_metrics(model, cfg, seed=seed)}
    gap = panels[0].new_full((panels[0].shape[0], panels[0].shape[1], 4 * pictures.PAD), 1.0)
    parts = [part for panel in panels for part in (gap, panel)][1:]  # a white gap between panels
    pair = torch.cat(parts, dim=-1)  # (C, H', runs * W' + gaps)
    return pictures.save_image(pair, out), scores
