"""Image training: :class:`ImageTrainer` and :func:`train_image`.

    config -> image splits -> model -> ImageTrainer.run() -> run directory

It shares with the text trainer (:mod:`textvae.text.training.train`) the epoch/step loop
(:class:`~textvae.core.training.loop.TrainerBase`) and with it the ``TrainConfig`` semantics (budget in
epochs, steps or minutes; Adam or SGD; gradient clipping; LR plateau; early stopping; KL
schedule; validation at epoch ends and every ``train.eval_every`` steps), device resolution,
mixed precision, signal handling (SIGINT/SIGTERM finish the step and save), the run-directory
rules (:mod:`textvae.core.training.run_dir`) and the checkpoint format (:mod:`textvae.core.checkpoint`,
kind ``image``, no tokenizer). It differs in its batches, its step, its metrics and its
validation figures.

Determinism: the image order depends only on (seed, epoch); dynamic binarization and the
reparameterization noise draw from one seeded generator, saved in every checkpoint with the
global RNG, so a resumed run continues the same streams. Validation uses its own generator.

Input pipeline: on CUDA the training set moves to the GPU once when it fits
(:func:`place_training_images`) and batches are gathered there; a larger set is gathered into
pinned host memory and copied without blocking (:func:`gather_batch`). Dynamic binarization
runs where the batch is, drawing from the trainer's generator, which lives on the training
device. On the CPU nothing moves: the batches, draws and weights are those of the code before
this pipeline (tests/image/run/test_pipeline.py pins them).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from textvae.core.checkpoint import (
    CheckpointKind,
    load_checkpoint,
    load_weights,
    resolve_checkpoint_dir,
)
from textvae.core.device import autocast, resolve_device
from textvae.core.distributed import refuse_data_parallel
from textvae.core.errors import CheckpointError, TextVAEError
from textvae.core.objectives import LossTerms, kl_weight
from textvae.core.training.loop import VALIDATION_SEED_OFFSET, TrainerBase
from textvae.core.training.run_dir import open_run, resume_trainer, save_checkpoint
from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import ImageVAE
from textvae.image.objectives.evaluate import evaluate_images, image_objective
from textvae.image.run.config import SEMI_SUPERVISED_TYPES, ImageConfig, SemiSupConfig, class_factor
from textvae.image.run.data import ImageSplits, binarize, evaluation_images, load_image_splits
from textvae.image.run.degrade import degrade, degrade_split


@dataclass
class ImageTrainResult:
    """What :func:`train_image` returns."""

    run_dir: Path
    step: int
    epoch: int
    stopped: str
    valid: dict[str, float]
    best_valid: float
    seconds: float
    notes: list[str] = field(default_factory=list)  # warnings the summary ends with


class ImageTrainer(TrainerBase[ImageTrainResult, nn.Module]):
    """Owns the model, optimiser, schedules and counters of one image run; the parts shared
    with the text trainer (optimiser, state, one step, metrics, the loop) are
    :class:`TrainerBase`'s.

    Args:
        config: the run config (a semi-supervised one for :class:`SemiSupTrainer`).
        data: the image splits (``train``, and ``valid`` if held out).
        model: the model, already on ``device``.
        device: where to train.
        log: where one-line messages go.
        progress: show progress (:mod:`textvae.core.progress`: a bar on a terminal, else lines).
    """

    best_counter = "best_valid"
    counters = (*TrainerBase.counters, best_counter)

    def __init__(
        self,
        config: ImageConfig | SemiSupConfig,
        data: ImageSplits,
        model: nn.Module,
        device: torch.device,
        *,
        log: Callable[[str], None] = print,
        progress: bool = False,
    ) -> None:
        super().__init__(config, model, device, log=log, progress=progress)
        self.train_images = place_training_images(data.images["train"], device)
        self.valid_images = (
            evaluation_images(config.data, data.images["valid"], "valid")
            if "valid" in data.images else None
        )
        # Image-to-image runs: the encoder sees one fixed degradation of the validation images.
        self.valid_inputs = (
            degrade_split(config.data, self.valid_images, "valid").encoder_input
            if self.valid_images is not None and config.data.degrade != "none" else None
        )
        self.best_valid = math.inf

    def save(self, valid: dict[str, float] | None = None, *, is_best: bool = False) -> Path:
        """Write a checkpoint; without validation data every checkpoint is the ``best``."""
        return save_checkpoint(
            self, {"image_shape": list(self.train_images.shape[1:]), "valid": valid},
            tokenizer=None, kind="image", is_best=is_best or self.valid_images is None)

    # -- one step ------------------------------------------------------------------------------

    def batches(self, epoch: int) -> list[Tensor]:
        """The epoch's image indices in batches, on the device the training images live on;
        the order depends only on (seed, epoch), drawn on the CPU whatever the device."""
        g = torch.Generator().manual_seed(self.tc.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train_images), generator=g)  # (N,)
        return list(order.to(self.train_images.device).split(self.tc.batch_size))

    def train_batch(self, batch: Tensor) -> tuple[LossTerms, int]:
        """Train on the training images ``batch`` (B,) indexes; returns the terms and B."""
        return self.train_step(gather_batch(self.train_images, batch, self.device)), len(batch)

    def train_step(self, x: Tensor) -> LossTerms:
        """One optimiser step on a batch of images x (B, C, H, W) in [0, 1]."""
        self.model.train()
        if self.config.data.pixels == "binary":
            x = binarize(x, self.generator)  # dynamic binarization: a fresh draw every batch
        inputs = x
        if self.config.data.degrade != "none":  # image-to-image: a fresh degradation every batch
            inputs = degrade(x, self.config.data.degrade, noise_std=self.config.data.noise_std,
                             generator=self.generator).encoder_input
        with autocast(self.device, self.amp_dtype):
            out = self.model(inputs, generator=self.generator)  # scored on the clean x below
        terms = image_objective(self.model, out, x, kl_weight=kl_weight(self.step, self.tc.kl))
        self.guarded_step(terms.loss)  # the non-finite test stays on the device
        return terms

    def validate(self) -> dict[str, float] | None:
        if self.valid_images is None:
            return None
        return evaluate_images(
            self.model, self.valid_images, batch_size=max(self.tc.batch_size, 500),
            seed=self.tc.seed + VALIDATION_SEED_OFFSET, device=self.device,
            inputs=self.valid_inputs,
        )

    # -- the loop's hooks ----------------------------------------------------------------------

    def start_message(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        return (
            f"training image {self.config.model.model_type} ({self.config.model.architecture}) on "
            f"{self.device}, {n_params:,} parameters, {len(self.train_images)} training images "
            f"-> {self.run_dir}"
        )

    def train_metrics(self, terms: LossTerms, per_second: float) -> dict[str, Any]:
        row = {"loss": terms.loss.item()}
        if isinstance(self.model, ImageVAE):  # the others have no ELBO
            row.update(neg_elbo=terms.neg_elbo.item(), kl=terms.kl.item(),
                       kl_weight=float(terms.kl_weight))
        return {
            **row, "reconstruction": terms.reconstruction.item(),
            "lr": self.optimizer.param_groups[0]["lr"], "images_per_s": per_second,
            "skipped_batches": self.skipped_batches,
            "minutes": (time.monotonic() - self.run_start) / 60,
        }

    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float] | None:
        """Validate; keep ``best``; at epoch ends also drive the LR plateau and early
        stopping."""
        valid = self.validate()
        if valid is None:
            return None
        self._write_metrics({"split": "valid", "step": self.step, "epoch": self.epoch, **valid})
        score = self.selection_score(valid)
        improved = self._validation_improves(score, self.best_valid, end_of_epoch=end_of_epoch)
        if improved:
            self.best_valid = score
        self.log(f"epoch {self.epoch} step {self.step} valid: {self.validation_line(valid)}"
                 + ("  (best)" if improved else ""))
        return valid

    def validation_line(self, valid: dict[str, float]) -> str:
        """The figures of a validation, as the log shows them."""
        extra = (
            f", codebook usage {valid['codebook_usage']:.0%}" if "codebook_usage" in valid else ""
        )
        loss = (
            f"-ELBO {valid['neg_elbo']:.2f} = rec {valid['reconstruction']:.2f} + KL "
            f"{valid['kl']:.2f}" if "neg_elbo" in valid else f"rec {valid['reconstruction']:.2f}"
        )
        return f"{loss} nats/image, MSE {valid['mse_per_image']:.2f}/image{extra}"

    def selection_score(self, valid: dict[str, float]) -> float:
        # The VAE is selected on its -ELBO, the AE and VQ-VAE on their reconstruction NLL.
        return valid.get("neg_elbo", valid["reconstruction"])

    def result(self, stopped: str, valid: dict[str, float], seconds: float) -> ImageTrainResult:
        return ImageTrainResult(self.run_dir, self.step, self.epoch, stopped, valid,
                                self.best_valid, seconds, notes=self.budget_notes(stopped))


def train_image(
    config: ImageConfig, *, resume: bool = False, log: Callable[[str], None] = print,
    progress: bool = False, meta_extra: dict[str, Any] | None = None,
) -> ImageTrainResult:
    """Train an image model from a config, or resume the run in ``config.train.out_dir``
    (the saved config is used then, except for the budget and the device). ``meta_extra``
    goes into every checkpoint's meta.json (the CLI records the command line)."""
    refuse_data_parallel("image training")
    config, checkpoint = open_run(
        config, resume=resume, kind=CheckpointKind("image", type(config)))
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)
    data = load_image_splits(config.data, splits=("train", "valid"), class_factor=class_factor(config))
    check_image_shape(config, data.shape)
    model = build_image_model(config.model)
    if checkpoint is not None:
        load_weights(model, checkpoint)
    model.to(device)
    trainer = ImageTrainer(config, data, model, device, log=log, progress=progress)
    trainer.meta_extra = dict(meta_extra or {})
    return run_and_report(trainer, checkpoint, log)


def run_and_report(trainer: ImageTrainer, checkpoint: Any, log: Callable[[str], None]) -> ImageTrainResult:
    """Resume ``trainer`` from ``checkpoint`` (None: a fresh run, whose KL annealing is fitted
    into its planned steps when ``train.kl.anneal_fraction`` asks), run it, log how it ended."""
    if checkpoint is None:
        trainer.anneal_in_run_steps()
    resume_trainer(trainer, checkpoint, log)
    result = trainer.run()
    log(f"done: {result.stopped} after {result.step} steps ({result.seconds / 60:.1f} min); "
        f"checkpoint: {result.run_dir / 'last'}")
    for note in result.notes:
        log(note)
    return result


RESIDENT_FRACTION = 0.25  # of the free GPU memory, the most a training set may take there


def place_training_images(images: Tensor, device: torch.device) -> Tensor:
    """Where the training images (N, C, H, W) live during a run.

    On CUDA the whole set moves to the GPU once when it takes under ``RESIDENT_FRACTION`` of
    the free memory (MNIST's 60,000 float images are 188 MB), and batches are then gathered
    there by a device index tensor, with no copy per step. A larger set stays in host memory
    and each batch is gathered into pinned memory and copied asynchronously
    (:func:`gather_batch`). On the CPU, and on other devices, the set stays where it is.
    """
    if device.type != "cuda":
        return images
    free, _ = torch.cuda.mem_get_info(device)
    return images.to(device) if images.nbytes < RESIDENT_FRACTION * free else images


def gather_batch(images: Tensor, batch: Tensor, device: torch.device) -> Tensor:
    """The images ``batch`` (B,) indexes, on ``device``: (B, C, H, W).

    Gathered where the images live. Host images bound for CUDA are gathered into a fresh
    pinned buffer and copied without blocking: the copy overlaps the host's work on the step,
    and PyTorch's pinned-memory cache reuses a buffer only once its copy has finished.
    """
    if images.device.type == "cpu" and device.type == "cuda":
        pinned = torch.empty((len(batch), *images.shape[1:]), dtype=images.dtype,
                             pin_memory=True)
        return torch.index_select(images, 0, batch, out=pinned).to(device, non_blocking=True)
    return images[batch].to(device)


def check_image_shape(config: ImageConfig | SemiSupConfig, shape: tuple[int, ...]) -> None:
    """The data's (C, H, W) must be what the model was configured for."""
    m = config.model
    expected = (m.image_channels, m.image_size, m.image_size)
    if tuple(shape) != expected:
        raise TextVAEError(
            f"the data's images are {tuple(shape)} (C, H, W) but the model expects {expected}; "
            f"set model.image_channels={shape[0]} and model.image_size={shape[1]}"
        )


def load_image_model(path: str | Path, device: str = "auto") -> tuple[nn.Module, ImageConfig, dict]:
    """Rebuild an image model from a checkpoint, or a run directory (its ``best``, else
    ``last``), in eval mode.

    Returns:
        (model on the device, the run's config, the checkpoint's meta.json).

    Raises:
        CheckpointError: if the checkpoint is missing, unreadable, a text checkpoint, or its
            weights do not fit its config.
    """
    if image_model_type(path) in SEMI_SUPERVISED_TYPES:
        raise CheckpointError(
            f"{path} holds a semi-supervised model (M2, M1+M2 or its classifier); use "
            "`textvae image classify|analogy|evaluate` for it"
        )
    if image_model_type(path) == "prior":
        raise CheckpointError(f"{path} holds a PixelCNN prior over a VQ run's codes; use "
                              "`textvae image sample|evaluate` for it (textvae.image.training.prior_train."
                              "load_prior in Python)")
    checkpoint = load_checkpoint(path, CheckpointKind("image", ImageConfig))
    model = build_image_model(checkpoint.config.model)
    load_weights(model, checkpoint)
    model.to(resolve_device(device)).eval()
    return model, checkpoint.config, checkpoint.meta


def image_model_type(path: str | Path) -> str | None:
    """The ``model_type`` a checkpoint's meta.json names, or None where it cannot be read (the
    loader then gives its own error)."""
    try:
        meta = json.loads((resolve_checkpoint_dir(path) / "meta.json").read_text())
    except (CheckpointError, OSError, ValueError):
        return None
    return meta.get("model_type") if isinstance(meta, dict) else None
