"""Using a trained semi-supervised image model (M2, M1+M2 or the classifier alone): class
probabilities of images, Kingma et al. 2014's analogy figure, and the evaluation of a run.

- Image files are read by :func:`textvae.image.pixels.pictures.read_image_file`: grey levels in
  [0, 1], resized to the model's side. The classifier sees the grey levels, the expected value
  of the binarized image it was trained on.
- :func:`classify_images` -> q(y|x) per image; :func:`classify_files` names the classes.
- :func:`analogy_images`: each row one image's z, inferred with its own label (the mean of
  q(z|x,y)), decoded with every class in turn (the paper's Figure 1 and 5).
- :func:`evaluate_semisup_run`: accuracy and error on a labelled split and the bounds
  (:func:`textvae.image.objectives.m2_objective.evaluate_m2`); an evaluation of the whole test split is
  also kept in the checkpoint directory (``TEST_RECORD``), where :mod:`textvae.image.use.judge`
  reads it.

Shapes: N = images, C = channels, H = W = side, D = the model's inputs, K = classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from textvae.core.checkpoint import resolve_checkpoint_dir
from textvae.core.errors import TextVAEError
from textvae.core.files import write_json
from textvae.core.label_sets import LabelSet
from textvae.image.models.m2 import M2
from textvae.image.objectives.m2_objective import class_probabilities, evaluate_m2
from textvae.image.pixels import pictures
from textvae.image.pixels.pictures import read_image_file
from textvae.image.training.semisup_train import class_ids, encode_inputs, load_semisup_model
from textvae.image.use.report import test_images

# Written into the checkpoint directory by an evaluation of the whole test split.
TEST_RECORD = "test_accuracy.json"


@torch.no_grad()
def classify_images(model: M2, images: Tensor, batch_size: int = 1000) -> Tensor:
    """q(y|x) of images (N, C, H, W) in [0, 1]: (N, K) probabilities, on the CPU."""
    device = next(model.parameters()).device
    x = encode_inputs(model, images, device, batch_size)  # (N, D)
    return class_probabilities(model, x, batch_size).cpu()


def classify_files(model: M2, label_set: LabelSet, paths: Sequence[str | Path]) -> list[dict]:
    """Each file's class probabilities: ``{"file", "predicted", "probabilities": {class: p}}``.

    Raises:
        InputError: a file is missing or not an image (checked for all before any work).
    """
    c, s = model.image_shape[0], model.image_shape[1]
    images = torch.stack([read_image_file(p, c, s) for p in paths])  # (N, C, H, W)
    probs = classify_images(model, images)
    values = label_set.factors[label_set.names[0]]
    return [{"file": str(path), "predicted": values[int(p.argmax())],
             "probabilities": {v: round(float(q), 4) for v, q in zip(values, p, strict=True)}}
            for path, p in zip(paths, probs, strict=True)]


@torch.no_grad()
def analogy_images(model: M2, images: Tensor, classes: Tensor) -> Tensor:
    """The analogy grid: per row the image itself, then its z decoded with each class.

    Args:
        model: an M2 (not the classifier alone).
        images: (R, C, H, W) in [0, 1]; classes: (R,) their class ids.

    Returns:
        (R * (K + 1), C, H, W) mean images in [0, 1], row-major (rows of K + 1).
    """
    if not model.generative:
        raise TextVAEError("the analogy figure needs M2 (model.model_type: m2); this run is the "
                           "classifier alone, which has no decoder")
    device = next(model.parameters()).device
    k = model.num_classes
    x = encode_inputs(model, images, device)  # (R, D)
    mu, _ = model.encode(x, model.one_hot(classes.to(device)))  # (R, Z): z from its own label
    every = torch.arange(k, device=device).repeat(len(x))  # (R*K,) row-major
    decoded = model.decode_images(mu.repeat_interleave(k, dim=0), model.one_hot(every))
    decoded = decoded.cpu().view(len(x), k, *images.shape[1:])
    return torch.cat([images.cpu().unsqueeze(1), decoded], dim=1).flatten(0, 1)


def save_analogy(model: M2, images: Tensor, classes: Tensor, out: str | Path) -> Path:
    """:func:`analogy_images` as one PNG, a row per image (the input first)."""
    return pictures.save_grid(analogy_images(model, images, classes), out,
                              nrow=model.num_classes + 1)


def analogy_from_run(run: str | Path, out: str | Path, *, n: int = 10, split: str = "test",
                     device: str = "auto") -> Path:
    """The analogy figure of the first ``n`` images of a split of the run's data."""
    model, cfg, _, label_set = load_semisup_model(run, device)
    images, labels = test_images(cfg, split, n)
    return save_analogy(model, images, class_ids(labels, label_set), out)


def evaluate_semisup_run(run: str | Path, *, split: str = "test", max_images: int | None = None,
                         offset: int = 0, device: str = "auto", seed: int = 0) -> dict:
    """Classification accuracy and error of a run's q(y|x) on a labelled split, with the
    class NLL and (M2) its bounds, as one dict (units in the names)."""
    model, cfg, meta, label_set = load_semisup_model(run, device)
    images, labels = test_images(cfg, split, max_images, offset)  # (N, C, H, W), (N,)
    if len(images) == 0:
        raise TextVAEError(f"no {split} images from offset {offset}")
    target = next(model.parameters()).device
    x = encode_inputs(model, images, target)  # (N, D)
    result: dict = {
        "run": str(run), "step": meta["step"], "split": split, "offset": offset,
        "images": len(images), "model": cfg.model.model_type + ("+m1" if model.m1 else ""),
        "labelled_examples": meta.get("labelled_examples"),
        "inputs": "m1 posterior means" if model.m1 else "pixels",
    }
    figures = evaluate_m2(model, x, class_ids(labels, label_set).to(target), seed=seed)
    result.update(figures)
    result["error_percent"] = 100 * figures["error"]
    result = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
              for k, v in result.items()}
    if split == "test" and max_images is None and offset == 0:
        # The whole test split: kept beside the weights it measured, so that a judge of
        # generated images (textvae.image.use.judge) can say how good it is.
        write_json(resolve_checkpoint_dir(run) / TEST_RECORD,
                   {k: result[k] for k in ("step", "images", "accuracy", "error")})
    return result
