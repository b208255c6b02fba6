"""Semi-supervised image training (Kingma et al. 2014): :class:`SemiSupTrainer` and
:func:`train_semisup`, for M2, M1+M2 and the supervised-only baseline (:mod:`textvae.image.models.m2`).

    config -> image splits -> label draw -> model (+ M1) -> SemiSupTrainer.run() -> run directory

The loop, checkpoints, resume rules and the image pipeline (placement, gathering, dynamic
binarization, the seeded generator) are :class:`~textvae.image.training.train.ImageTrainer`'s and, under
it, :class:`~textvae.core.training.loop.TrainerBase`'s; this trainer changes the batches, the step,
the metrics and the validation figures.

Labels: ``labels.labels_per_class`` training images of each class keep their label
(:func:`~textvae.core.label_sets.draw_per_class`, seeded by ``labels.label_seed``); the others are
unlabelled. The drawn indices (into the training split) are written to
``labelled_indices.json`` in the run directory. The label set (one factor, ``digit``) goes into
every checkpoint's meta.json, and M1+M2 carries M1's config in its config and M1's weights in
its own, so a checkpoint needs nothing else to load.

Batches: an epoch is one pass over the unlabelled images in batches of ``train.batch_size``;
each step also takes ``labels.labelled_batch_size`` labelled images, cycling through seeded
permutations of the labelled set. The classifier alone (and a run without unlabelled images)
passes over the labelled images only. Both orders depend only on (seed, epoch), so a resumed
run continues the same batches. Validation: the held-out labelled ``valid`` images; ``best``
is the checkpoint with the lowest validation error.

Shapes: N = images, B = batch, D = the model's inputs, K = classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textvae.core.checkpoint import CheckpointKind, load_checkpoint, load_weights
from textvae.core.device import autocast, resolve_device
from textvae.core.distributed import refuse_data_parallel
from textvae.core.errors import CheckpointError, DataError, TextVAEError
from textvae.core.files import write_json
from textvae.core.label_sets import LabelSet, draw_per_class
from textvae.core.metrics import ACTIVE_UNIT_THRESHOLD
from textvae.core.training.loop import VALIDATION_SEED_OFFSET
from textvae.core.training.run_dir import open_run
from textvae.image.models.m2 import M2, build_m2
from textvae.image.models.vae import ImageVAE
from textvae.image.objectives.m2_objective import M2Terms, evaluate_m2, m2_loss
from textvae.image.run.config import SEMI_SUPERVISED_TYPES, ImageConfig, SemiSupConfig, class_factor
from textvae.image.run.data import ImageSplits, binarize, evaluation_images, load_image_splits
from textvae.image.training.train import (
    ImageTrainer,
    ImageTrainResult,
    check_image_shape,
    gather_batch,
    image_model_type,
    run_and_report,
)

LABEL_FACTOR = "digit"  # the one factor of MNIST's label set (sprites: labels.factors)
LABELLED_FILE = "labelled_indices.json"


def label_set_of(labels: Tensor, factor: str = LABEL_FACTOR) -> LabelSet:
    """The label set of a split's (N,) integer labels: one factor, the values seen, in order."""
    return LabelSet({factor: tuple(str(v) for v in sorted(set(labels.tolist())))})


def class_ids(labels: Tensor, label_set: LabelSet) -> Tensor:
    """(N,) dataset labels -> (N,) class ids of ``label_set``; an unknown label is an error."""
    factor = label_set.names[0]
    lookup = {int(v): i for i, v in enumerate(label_set.factors[factor])}
    unknown = sorted({int(v) for v in labels.tolist()} - set(lookup))
    if unknown:
        raise DataError(f"label(s) {', '.join(map(str, unknown))} are not in the model's label "
                        f"set; known values of {factor}: "
                        f"{', '.join(label_set.factors[factor])}")
    return torch.tensor([lookup[int(v)] for v in labels.tolist()], dtype=torch.long)


def labelled_indices(config: SemiSupConfig, classes: Tensor) -> list[int]:
    """The training images that keep their label: a seeded balanced draw, or all of them."""
    if config.labels.labels_per_class is None:
        return list(range(len(classes)))
    return draw_per_class(classes.tolist(), config.labels.labels_per_class, config.labels.label_seed)


class SemiSupTrainer(ImageTrainer):
    """:class:`ImageTrainer` with labelled and unlabelled batches and the M2 objective.

    Args:
        config: the run config.
        data: the image splits (``train`` and the labelled ``valid``).
        model: the :class:`~textvae.image.models.m2.M2`, already on ``device``.
        device: where to train.
        label_set: the classes (index = class id).
        labelled: indices of the labelled training images.
        log, progress: as :class:`ImageTrainer`'s.
    """

    config: SemiSupConfig
    model: M2

    def __init__(self, config: SemiSupConfig, data: ImageSplits, model: M2,
                 device: torch.device, label_set: LabelSet, labelled: list[int], *,
                 log: Callable[[str], None] = print, progress: bool = False) -> None:
        super().__init__(config, data, model, device, log=log, progress=progress)
        where = self.train_images.device
        self.train_classes = class_ids(data.labels["train"], label_set).to(where)  # (N,)
        self.labelled = torch.tensor(labelled, dtype=torch.long)  # (N_l,)
        mask = torch.ones(len(self.train_images), dtype=torch.bool)
        mask[self.labelled] = False
        # The classifier alone never sees the unlabelled images.
        self.unlabelled = (mask.nonzero().squeeze(1) if model.generative
                           else torch.zeros(0, dtype=torch.long))  # (N_u,)
        self.valid_x: Tensor | None = None
        self.valid_y: Tensor | None = None
        if self.valid_images is not None:
            self.valid_x = encode_inputs(model, self.valid_images, device)  # (N_v, D)
            self.valid_y = class_ids(data.labels["valid"], label_set).to(device)

    # -- one step ------------------------------------------------------------------------------

    # The batches are (labelled, unlabelled) index pairs and the terms M2's: ImageTrainer's
    # hooks take image indices and LossTerms, and TrainerBase fixes LossTerms for every trainer
    # (the loop only hands each batch and each step's terms back to these methods).
    def batches(self, epoch: int) -> list[tuple[Tensor, Tensor | None]]:  # type: ignore[override]
        """(labelled indices (B_l,), unlabelled indices (B,) or None) per step, depending only
        on (seed, epoch)."""
        g = torch.Generator().manual_seed(self.tc.seed * 1_000_003 + epoch)
        where = self.train_images.device
        size = self.config.labels.labelled_batch_size
        if len(self.unlabelled) == 0:
            order = self.labelled[torch.randperm(len(self.labelled), generator=g)]
            return [(b.to(where), None) for b in order.split(size)]
        unlabelled = self.unlabelled[torch.randperm(len(self.unlabelled), generator=g)]
        steps = unlabelled.split(self.tc.batch_size)
        rounds = -(-len(steps) * size // len(self.labelled))  # ceil: enough for every step
        labelled = torch.cat([self.labelled[torch.randperm(len(self.labelled), generator=g)]
                              for _ in range(rounds)])
        return [(labelled[i * size:(i + 1) * size].to(where), u.to(where))
                for i, u in enumerate(steps)]

    def train_batch(  # type: ignore[override]  # M2's batches and terms (see batches)
        self, batch: tuple[Tensor, Tensor | None]
    ) -> tuple[M2Terms, int]:
        li, ui = batch
        x_l = self._inputs(li)
        x_u = None if ui is None else self._inputs(ui)
        self.model.train()
        with autocast(self.device, self.amp_dtype):
            terms = m2_loss(
                self.model, x_l, self.train_classes[li].to(self.device), x_u,
                n_labelled=len(self.labelled), n_unlabelled=len(self.unlabelled),
                alpha_scale=self.config.labels.alpha_scale, generator=self.generator,
            )
        self.guarded_step(terms.loss)
        return terms, len(li) + (0 if ui is None else len(ui))

    def _inputs(self, indices: Tensor) -> Tensor:
        """The model's inputs (B, D) for training images: dynamically binarized, and for
        M1+M2 a draw of z1 from M1's posterior."""
        x = gather_batch(self.train_images, indices, self.device)
        if self.config.data.pixels == "binary":
            x = binarize(x, self.generator)
        return self.model.inputs(x, self.generator, sample=True)

    def validate(self) -> dict[str, float] | None:
        if self.valid_x is None or self.valid_y is None:  # both or neither
            return None
        return evaluate_m2(self.model, self.valid_x, self.valid_y,
                           batch_size=max(self.tc.batch_size, 500),
                           seed=self.tc.seed + VALIDATION_SEED_OFFSET)

    # -- the loop's hooks ----------------------------------------------------------------------

    def start_message(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        kind = self.config.model.model_type + (" over M1's latent space" if self.model.m1 else "")
        return (f"training {kind} on {self.device}, {n_params:,} trained parameters, "
                f"{len(self.labelled)} labelled and {len(self.unlabelled)} unlabelled training "
                f"images -> {self.run_dir}")

    def train_metrics(  # type: ignore[override]  # M2's terms (see batches)
        self, terms: M2Terms, per_second: float
    ) -> dict[str, Any]:
        return {
            "loss": terms.loss.item(), "neg_elbo_labelled": terms.labelled.item(),
            "neg_elbo_unlabelled": terms.unlabelled.item(),
            "class_nll": terms.classification.item(),
            "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": per_second,
            "skipped_batches": self.skipped_batches,
            "minutes": (time.monotonic() - self.run_start) / 60,
        }

    def validation_line(self, valid: dict[str, float]) -> str:
        bound = f", -ELBO {valid['neg_elbo']:.2f}" if "neg_elbo" in valid else ""
        return f"error {valid['error']:.2%}, class NLL {valid['class_nll']:.3f}{bound}"

    def selection_score(self, valid: dict[str, float]) -> float:
        return valid["error"]


@torch.no_grad()
def encode_inputs(model: M2, images: Tensor, device: torch.device, batch_size: int = 1000
                  ) -> Tensor:
    """The model's inputs for evaluation images (N, C, H, W): pixels, or M1's posterior means;
    (N, D) on ``device``."""
    return torch.cat([model.inputs(b.to(device)) for b in images.split(batch_size)])


def train_semisup(
    config: SemiSupConfig, *, resume: bool = False, log: Callable[[str], None] = print,
    progress: bool = False, meta_extra: dict[str, Any] | None = None,
) -> ImageTrainResult:
    """Train M2, M1+M2 or the classifier alone from a config, or resume the run in
    ``config.train.out_dir`` (as :func:`textvae.image.training.train.train_image`)."""
    refuse_data_parallel("semi-supervised image training (M2, M1+M2, the classifier)")
    config, checkpoint = open_run(
        config, resume=resume, kind=CheckpointKind("image", type(config)))
    factor = class_factor(config)
    if config.data.source == "sprites" and factor is None:
        raise TextVAEError("semi-supervised training needs class labels: sprites have five "
                           "factors; name the class with labels.factors (e.g. [shape])")
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)
    data = load_image_splits(config.data, splits=("train", "valid"), class_factor=factor)
    check_image_shape(config, data.shape)
    label_set = label_set_of(data.labels["train"], factor or LABEL_FACTOR)
    labelled = labelled_indices(config, class_ids(data.labels["train"], label_set))
    run_dir = Path(config.train.out_dir)
    write_json(run_dir / LABELLED_FILE, {
        "labels_per_class": config.labels.labels_per_class, "label_seed": config.labels.label_seed,
        "labels": label_set.to_dict(), "indices": labelled,
    }, make_parents=True)
    m1_state: dict[str, Tensor] | None = None
    m1_meta: dict[str, Any] = {}
    if checkpoint is None and config.model.m1_checkpoint is not None:
        config, m1_state, m1_meta = attach_m1(config, data)
    elif checkpoint is None and (config.model.m1 is not None
                                 or config.model.m1_active_units is not None):
        raise TextVAEError("model.m1 and model.m1_active_units are filled in from "
                           "model.m1_checkpoint when training starts; set model.m1_checkpoint (a "
                           "trained M1 run) and leave them unset")
    model = build_m2(config.model, label_set.sizes[0])
    if checkpoint is not None:
        load_weights(model, checkpoint)
        m1_meta = checkpoint.meta.get("m1", {})
    elif m1_state is not None:
        assert model.m1 is not None  # attach_m1 put M1's config in, so build_m2 built M1
        model.m1.load_state_dict(m1_state)
    model.to(device)
    trainer = SemiSupTrainer(config, data, model, device, label_set, labelled, log=log,
                             progress=progress)
    trainer.meta_extra = {**(meta_extra or {}), "labels": label_set.to_dict(),
                          "labelled_examples": len(labelled), "m1": m1_meta}
    return run_and_report(trainer, checkpoint, log)


def attach_m1(config: SemiSupConfig, data: ImageSplits
              ) -> tuple[SemiSupConfig, dict[str, Tensor], dict[str, Any]]:
    """Read the M1 run ``model.m1_checkpoint`` names: the config with M1's model config (and,
    for ``active_means``, its active units on the training images) copied in, M1's weights, and
    what meta.json records of it."""
    if config.model.m1_checkpoint is None:
        raise TextVAEError("model.m1_checkpoint is not set: name the trained M1 run (an MLP VAE) "
                           "whose latent space M1+M2 reads")
    shape = data.shape
    m1 = load_checkpoint(config.model.m1_checkpoint, CheckpointKind("image", ImageConfig))
    m1_model = m1.config.model
    if m1_model.model_type != "vae" or m1_model.architecture != "mlp":
        raise TextVAEError(f"{m1.path} holds a {m1_model.architecture} {m1_model.model_type}; "
                           "M1 must be an MLP VAE (e.g. textvae image train --config mnist_m1)")
    expected = (m1_model.image_channels, m1_model.image_size, m1_model.image_size)
    if tuple(shape) != expected:
        raise TextVAEError(f"M1 ({m1.path}) was trained on images {expected}, the data's are "
                           f"{tuple(shape)}")
    active = None
    if config.model.m1_inputs == "active_means":
        vae = ImageVAE(m1_model)
        vae.load_state_dict(m1.model_state)
        images = evaluation_images(config.data, data.images["train"], "train")
        with torch.no_grad():
            means = torch.cat([vae.encode(b)[0] for b in images.split(1000)])  # (N, Z1)
        active = (means.var(dim=0) > ACTIVE_UNIT_THRESHOLD).nonzero().squeeze(1).tolist()
        if not active:
            raise TextVAEError(f"M1 ({m1.path}) has no active unit: its posterior means do not "
                               "vary over the training images")
    config = replace(config, model=replace(config.model, m1=m1_model, m1_active_units=active))
    meta = {"checkpoint": str(m1.path.resolve()), "step": m1.meta.get("step"),
            "active_units": None if active is None else len(active)}
    return config, m1.model_state, meta


def load_semisup_model(path: str | Path, device: str = "auto"
                       ) -> tuple[M2, SemiSupConfig, dict, LabelSet]:
    """Rebuild a semi-supervised model from a checkpoint or run directory, in eval mode.

    Returns:
        (model on the device, the run's config, meta.json, the label set).

    Raises:
        CheckpointError: missing or unreadable, not a semi-supervised checkpoint, or its weights
            do not fit its config.
    """
    model_type = image_model_type(path)
    if model_type is not None and model_type not in SEMI_SUPERVISED_TYPES:
        raise CheckpointError(
            f"{path} holds an image {model_type}, not a semi-supervised model (M2, M1+M2 or the "
            "classifier alone); train one with textvae image train --config mnist_m2")
    checkpoint = load_checkpoint(path, CheckpointKind("image", SemiSupConfig))
    if "labels" not in checkpoint.meta:
        raise CheckpointError(f"{checkpoint.path}: meta.json has no label set")
    label_set = LabelSet.from_dict(checkpoint.meta["labels"])
    model = build_m2(checkpoint.config.model, label_set.sizes[0])
    load_weights(model, checkpoint)
    model.to(resolve_device(device)).eval()
    return model, checkpoint.config, checkpoint.meta, label_set
