"""Training PixelCNN priors over a VQ run's codes: :class:`PriorTrainer`, :func:`train_prior`
and :func:`load_prior`.

    VQ run -> its images' code maps (once) + class labels -> CodePrior -> PriorTrainer.run()

The VQ run (``model.vq_run``: a VQ-VAE or VQ-VAE-2 run directory or checkpoint) is loaded, and
its train and valid images (the evaluation copies: binarized once with the run's seed when its
pixels are binary) are encoded to code maps with ``encode_codes`` as training starts (and again
on a resume: the encoding is deterministic). The class of an image is MNIST's digit or the
sprites' shape (factor 0, or the VQ run's ``labels.factors`` where it named one).

The loop, budgets, signals, checkpoints and resume rules are
:class:`~textvae.image.training.train.ImageTrainer`'s (and :class:`~textvae.core.training.loop.TrainerBase`'s);
this trainer changes the data (code maps instead of images), the step and the validation. The
training objective is the negative log-likelihood of all levels in nats per code; validation
reports bits per code per level and ``best`` is the lowest overall bits per code.

Every checkpoint's meta.json records the VQ checkpoint it belongs to (``vq_checkpoint``, its
step), the level shapes (``code_levels``), the label set (``labels``) and the VQ run's image
shape, so :func:`load_prior` rebuilds the prior and its VQ model from the checkpoint alone.

Shapes: N = images, B = batch, P = the code positions of all levels, S_l / K_l = side and
codebook size of level l.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from textvae.core.checkpoint import (
    CheckpointKind,
    load_checkpoint,
    load_weights,
    resolve_checkpoint_dir,
)
from textvae.core.device import autocast, resolve_device
from textvae.core.distributed import refuse_data_parallel
from textvae.core.errors import CheckpointError, TextVAEError
from textvae.core.label_sets import LabelSet
from textvae.core.training.loop import TrainerBase
from textvae.core.training.run_dir import open_run
from textvae.image.models.prior import CodePrior, build_code_prior
from textvae.image.models.registry import VQ_MODELS, VQModel
from textvae.image.run.config import ImageConfig, PriorRunConfig, class_factor
from textvae.image.run.data import evaluation_images, load_image_splits
from textvae.image.training.semisup_train import LABEL_FACTOR, class_ids, label_set_of
from textvae.image.training.train import (
    ImageTrainer,
    ImageTrainResult,
    image_model_type,
    load_image_model,
    run_and_report,
)

SPRITE_CLASS_FACTOR = "shape"  # the sprites' factor a prior conditions on by default


class PriorTerms(NamedTuple):
    """One step's figures: ``loss`` (nats per code, all levels) and ``nats`` per level, (L,)
    mean nats per map."""

    loss: Tensor
    nats: Tensor


@dataclass
class CodeSplits:
    """Code maps of every level, flattened and concatenated, (N, P) long, and classes (N,) per
    split (-1 where the images have no class)."""

    codes: dict[str, Tensor]
    classes: dict[str, Tensor]


def split_levels(flat: Tensor, code_levels: list[tuple[int, int]]) -> list[Tensor]:
    """(B, P) -> [(B, S_l, S_l)], coarsest first."""
    sides = [s for s, _ in code_levels]
    return [part.reshape(-1, s, s) for part, s in zip(flat.split([s * s for s in sides], 1), sides,
                                                      strict=True)]


@torch.no_grad()
def encode_code_maps(vq: VQModel, images: Tensor, batch_size: int = 500) -> list[Tensor]:
    """Images (N, C, H, W) -> every level's code maps [(N, S_l, S_l)] on the CPU."""
    device = next(vq.parameters()).device
    parts = [vq.encode_codes(batch.to(device)) for batch in images.split(batch_size)]
    return [torch.cat([p[level].cpu() for p in parts]) for level in range(len(parts[0]))]


def prior_class_factor(vq_config: ImageConfig) -> str | None:
    """The factor whose value is the class of the VQ run's images: the sprites' factor its
    ``labels.factors`` names (the shape where it named none); None for MNIST, whose class is its
    digit. The column is picked where every class-reading run picks it,
    :func:`textvae.image.run.data.load_image_splits`."""
    factor = class_factor(vq_config)
    if vq_config.data.source == "sprites" and factor is None:
        return SPRITE_CLASS_FACTOR
    return factor


def prepare_codes(vq: VQModel, vq_config: ImageConfig, splits: tuple[str, ...],
                  class_conditional: bool, label_set: LabelSet | None = None
                  ) -> tuple[CodeSplits, LabelSet | None]:
    """The code maps and classes of the VQ run's ``splits``, and the label set: ``label_set``
    (a trained prior's), else the classes seen in ``splits``; None when the images have no
    classes and the prior does not need them."""
    factor = prior_class_factor(vq_config)
    data = load_image_splits(vq_config.data, splits=splits, class_factor=factor)
    codes, values = {}, {}
    for split in splits:
        images = evaluation_images(vq_config.data, data.images[split], split)
        codes[split] = torch.cat([c.flatten(1) for c in encode_code_maps(vq, images)], dim=1)
        values[split] = data.labels[split]  # (N,) class values
    seen = torch.cat(list(values.values()))  # (N_all,)
    if bool((seen < 0).any()):
        if class_conditional:
            raise TextVAEError("a class-conditional prior needs class labels, and the VQ run's "
                               "images have none; set model.class_conditional=false")
        return CodeSplits(codes, {s: torch.full_like(v, -1) for s, v in values.items()}), None
    label_set = label_set or label_set_of(seen, factor or LABEL_FACTOR)
    return CodeSplits(codes, {s: class_ids(v, label_set) for s, v in values.items()}), label_set


@torch.no_grad()
def code_bits(prior: CodePrior, flat_codes: Tensor, classes: Tensor, batch_size: int = 500
              ) -> dict[str, float]:
    """Test figures of the codes (N, P) under the prior: ``nats_per_image`` (all levels),
    ``bits_per_code`` (all levels) and ``bits_per_code_level{l}`` (level 0 the coarsest)."""
    device = next(prior.parameters()).device
    totals = torch.zeros(len(prior.code_levels), dtype=torch.float64)
    for codes, y in zip(flat_codes.split(batch_size), classes.split(batch_size), strict=True):
        levels = [c.to(device) for c in split_levels(codes, prior.code_levels)]
        nats = prior.log_likelihood(levels, y.to(device) if prior.num_classes else None)
        totals -= torch.stack([n.double().sum().cpu() for n in nats])
    n = len(flat_codes)
    positions = [s * s for s, _ in prior.code_levels]
    row = {"nats_per_image": float(totals.sum()) / n,
           "bits_per_code": float(totals.sum()) / (n * sum(positions) * math.log(2.0))}
    for level, (total, p) in enumerate(zip(totals.tolist(), positions, strict=True)):
        row[f"bits_per_code_level{level}"] = total / (n * p * math.log(2.0))
    return row


class PriorTrainer(ImageTrainer):
    """:class:`ImageTrainer` over code maps: the batches index the (N, P) training codes (the
    trainer's ``train_images``, which the inherited :meth:`batches` and :meth:`save` read).

    Args:
        config: the prior run's config.
        codes: the code maps and classes of ``train`` and ``valid``.
        model: the :class:`CodePrior`, already on ``device``.
        device, log, progress: as :class:`ImageTrainer`'s.
    """

    config: PriorRunConfig
    model: CodePrior

    def __init__(self, config: PriorRunConfig, codes: CodeSplits, model: CodePrior,
                 device: torch.device, *, log: Callable[[str], None] = print,
                 progress: bool = False) -> None:
        # ImageTrainer's own __init__ prepares images (binarization, placement); codes need none.
        TrainerBase.__init__(self, config, model, device, log=log, progress=progress)
        self.train_images = codes.codes["train"]  # (N, P)
        self.train_classes = codes.classes["train"]  # (N,)
        self.valid_codes = codes.codes.get("valid")
        self.valid_classes = codes.classes.get("valid")
        self.valid_images = self.valid_codes  # ImageTrainer.save: no valid set, every save best
        self.best_valid = math.inf

    # The terms are the prior's: ImageTrainer's and TrainerBase's hooks fix LossTerms for every
    # trainer (the loop only hands each step's terms back to train_metrics).
    def train_batch(self, batch: Tensor) -> tuple[PriorTerms, int]:  # type: ignore[override]
        prior = self.model
        levels = [c.to(self.device) for c in split_levels(self.train_images[batch], prior.code_levels)]
        classes = self.train_classes[batch].to(self.device) if prior.num_classes else None
        prior.train()
        with autocast(self.device, self.amp_dtype):
            nats = torch.stack([-n.mean() for n in prior.log_likelihood(levels, classes)])  # (L,)
        loss = nats.sum() / sum(s * s for s, _ in prior.code_levels)
        self.guarded_step(loss)
        return PriorTerms(loss.detach(), nats.detach()), len(batch)

    def validate(self) -> dict[str, float] | None:
        if self.valid_codes is None or self.valid_classes is None:  # both or neither
            return None
        self.model.eval()
        return code_bits(self.model, self.valid_codes, self.valid_classes,
                         batch_size=max(self.tc.batch_size, 500))

    def start_message(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        kind = "class-conditional" if self.model.num_classes else "unconditional"
        return (f"training a {kind} PixelCNN prior over code levels {self.model.code_levels} "
                f"(side, codes) on {self.device}, {n_params:,} parameters, "
                f"{len(self.train_images)} training maps -> {self.run_dir}")

    def train_metrics(  # type: ignore[override]  # the prior's terms (see train_batch)
        self, terms: PriorTerms, per_second: float
    ) -> dict[str, Any]:
        row = {"loss": terms.loss.item()}
        for level, nats in enumerate(terms.nats.tolist()):
            side = self.model.code_levels[level][0]
            row[f"bits_per_code_level{level}"] = nats / (side * side * math.log(2.0))
        return {**row, "lr": self.optimizer.param_groups[0]["lr"], "maps_per_s": per_second,
                "skipped_batches": self.skipped_batches,
                "minutes": (time.monotonic() - self.run_start) / 60}

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{row['loss']:.3f}"}

    def validation_line(self, valid: dict[str, float]) -> str:
        levels = ", ".join(f"level {k.removeprefix('bits_per_code_level')} {v:.3f}"
                           for k, v in valid.items() if k.startswith("bits_per_code_level"))
        return f"{valid['bits_per_code']:.4f} bits/code ({levels})"

    def selection_score(self, valid: dict[str, float]) -> float:
        return valid["bits_per_code"]


def open_vq_run(path: str | Path, device: str | torch.device) -> tuple[VQModel, ImageConfig, dict]:
    """Load a VQ run that exposes code levels (VQ-VAE, VQ-VAE-2), in eval mode."""
    vq, vq_config, meta = load_image_model(path, str(device))
    if not isinstance(vq, VQ_MODELS):
        raise TextVAEError(f"{path} holds an image {vq_config.model.model_type}, which has no "
                           "discrete codes; a prior needs a VQ-VAE or VQ-VAE-2 run")
    return vq, vq_config, meta


def train_prior(
    config: PriorRunConfig, *, resume: bool = False, log: Callable[[str], None] = print,
    progress: bool = False, meta_extra: dict[str, Any] | None = None,
) -> ImageTrainResult:
    """Train a prior over ``model.vq_run``'s codes, or resume the run in ``train.out_dir`` (as
    :func:`textvae.image.training.train.train_image`)."""
    refuse_data_parallel("prior training (a PixelCNN over a VQ run's codes)")
    config, checkpoint = open_run(
        config, resume=resume, kind=CheckpointKind("image", type(config)))
    if config.model.vq_run is None:
        raise TextVAEError("model.vq_run is not set: name the trained VQ-VAE or VQ-VAE-2 run "
                           "whose codes the prior models (e.g. runs/mnist_vqvae2)")
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)
    vq_dir = resolve_checkpoint_dir(config.model.vq_run).resolve()
    if checkpoint is not None and str(vq_dir) != checkpoint.meta.get("vq_checkpoint"):
        raise TextVAEError(f"the VQ run {config.model.vq_run} now points at {vq_dir}, but this "
                           f"prior was trained on {checkpoint.meta.get('vq_checkpoint')}'s codes")
    vq, vq_config, vq_meta = open_vq_run(vq_dir, device)
    log(f"encoding the VQ run's images to codes ({vq_dir})")
    codes, label_set = prepare_codes(vq, vq_config, ("train", "valid"),
                                     config.model.class_conditional)
    num_classes = 0 if label_set is None else label_set.sizes[0]
    model = build_code_prior(config.model, vq.code_levels, num_classes)
    if checkpoint is not None:
        load_weights(model, checkpoint)
    model.to(device)
    trainer = PriorTrainer(config, codes, model, device, log=log, progress=progress)
    trainer.meta_extra = {
        **(meta_extra or {}), "vq_checkpoint": str(vq_dir), "vq_step": vq_meta.get("step"),
        "vq_model_type": vq_config.model.model_type, "image_shape": vq_meta.get("image_shape"),
        "code_levels": [list(level) for level in vq.code_levels],
        "labels": None if label_set is None else label_set.to_dict(),
    }
    return run_and_report(trainer, checkpoint, log)


@dataclass
class LoadedPrior:
    """A prior run, loaded: the prior and its VQ model (both in eval mode, on one device), the
    prior's config and meta.json, and the label set (None: the images had no classes)."""

    prior: CodePrior
    vq: VQModel
    config: PriorRunConfig
    vq_config: ImageConfig
    meta: dict
    label_set: LabelSet | None


def is_prior_run(path: str | Path) -> bool:
    """Whether a run directory or checkpoint holds a code prior."""
    return image_model_type(path) == "prior"


def load_prior(path: str | Path, device: str = "auto") -> LoadedPrior:
    """Rebuild a prior and the VQ model whose codes it models, from the prior's checkpoint (or
    run directory) alone.

    Raises:
        CheckpointError: not a prior checkpoint, unreadable, or its VQ checkpoint is gone.
    """
    if not is_prior_run(path):
        raise CheckpointError(f"{path} holds no PixelCNN prior (model.model_type: prior); train "
                              "one with textvae image train --config configs/mnist_vqvae2_prior.yaml")
    checkpoint = load_checkpoint(path, CheckpointKind("image", PriorRunConfig))
    meta = checkpoint.meta
    vq_path = Path(meta["vq_checkpoint"])
    if not vq_path.exists():
        raise CheckpointError(f"{checkpoint.path}: its VQ checkpoint {vq_path} is gone (the prior "
                              "models that checkpoint's codes and no other)")
    labels = LabelSet.from_dict(meta["labels"]) if meta.get("labels") else None
    levels = [tuple(level) for level in meta["code_levels"]]
    classes = 0 if labels is None else labels.sizes[0]
    prior = build_code_prior(checkpoint.config.model, levels, classes)
    load_weights(prior, checkpoint)
    target = resolve_device(device)
    vq, vq_config, _ = open_vq_run(vq_path, target)
    return LoadedPrior(prior.to(target).eval(), vq, checkpoint.config, vq_config, meta, labels)
