"""Image run configs: their own data and model sections, and the text side's ``TrainConfig``
with an image default for the KL schedule.

A YAML file has the sections ``data`` (:class:`ImageDataConfig`), ``model``
(:class:`~textvae.image.models.ImageModelConfig`) and ``train`` (:class:`ImageTrainConfig`:
:class:`textvae.config.TrainConfig`, shared with the text side, whose ``kl.kind`` defaults to
``constant``). Loading, dotted ``--set`` overrides and strict validation are textvae.config's.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from textvae.config import KLScheduleConfig, TrainConfig, from_dict
from textvae.config_files import apply_overrides, read_yaml
from textvae.errors import ConfigError
from textvae.image.m2 import M2Config
from textvae.image.models import ImageModelConfig
from textvae.image.prior import CodePriorConfig
from textvae.image.sprites import FACTOR_NAMES


@dataclass
class ImageDataConfig:
    """Where images come from and how pixels are treated.

    ``source``:
      - ``mnist``: the four IDX ``.gz`` files of LeCun's MNIST in ``path``;
      - ``hf``: Hugging Face ``datasets``: ``hf_name`` is a hub name (e.g. ``ylecun/mnist``) or a
        builder for local files (``parquet``, ...) with ``hf_data_files`` mapping split names to
        files; ``image_column`` holds the images (PIL or nested lists of 0..255);
      - ``sprites``: procedural dSprites-like sprites (64x64, binary) made in memory from
        ``sprites_size`` and ``sprites_seed``: ``sprites_size`` training sprites and a tenth as
        many test sprites, disjoint parts of one seeded draw.

    ``pixels``: ``binary`` (dynamic binarization: every training batch is a fresh
    Bernoulli(intensity) draw; validation and test sets are binarized once, with
    ``binarize_seed``) or ``grey`` (intensities in [0, 1], for a Gaussian decoder and bits/dim).
    ``valid_size`` training images are held out for validation (the last ones).

    ``degrade`` (image-to-image VAEs, :mod:`textvae.image.degrade`): ``none``, ``noise``
    (Gaussian, std ``noise_std`` of the range, clipped to [0, 1]), ``mask`` (a random half of
    each image hidden) or ``downsample`` (2x2 area average); the encoder sees the degraded image,
    the decoder is scored on the clean one. Training batches get a fresh draw; validation and
    test sets one fixed draw (``degrade_seed`` plus a per-split offset).

    Semi-supervised runs (:class:`SemiSupConfig`): ``labels_per_class`` training images of each
    class keep their label, drawn with ``label_seed`` (``textvae.data.labels.draw_per_class``);
    the rest of the training split is unlabelled. Null: every training label is kept.

    ``label_factor``: the sprites' factor that is the class of a run that reads classes (the
    judge classifier, class-conditional priors), e.g. ``shape``; the labels of every split are
    then that factor's value (N,) instead of all five factors (N, 5). Null for MNIST.
    """

    source: Literal["mnist", "hf", "sprites"] = "mnist"
    path: str = "data/mnist"
    hf_name: str | None = None
    hf_config: str | None = None
    hf_data_files: dict[str, str] | None = None
    hf_splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "test": "test"})
    image_column: str = "image"
    sprites_size: int = 20000
    sprites_seed: int = 0
    pixels: Literal["binary", "grey"] = "binary"
    binarize_seed: int = 0
    valid_size: int = 1000
    labels_per_class: int | None = None
    label_seed: int = 0
    label_factor: str | None = None
    # Image-to-image runs (textvae.image.degrade): the encoder sees the degraded image.
    degrade: Literal["none", "noise", "mask", "downsample"] = "none"
    noise_std: float = 0.5
    degrade_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.noise_std <= 1.0:
            raise ConfigError(
                f"data.noise_std is a fraction of the intensity range, in (0, 1]; got {self.noise_std}")
        if self.labels_per_class is not None and self.labels_per_class <= 0:
            raise ConfigError(f"data.labels_per_class must be positive, got {self.labels_per_class}")
        if self.sprites_size <= 0:
            raise ConfigError(f"data.sprites_size must be positive, got {self.sprites_size}")
        if self.valid_size < 0:
            raise ConfigError(f"data.valid_size must be >= 0, got {self.valid_size}")
        if self.label_factor is not None and (
                self.source != "sprites" or self.label_factor not in FACTOR_NAMES):
            raise ConfigError(
                f"data.label_factor {self.label_factor!r}: only sprites have factors to choose "
                f"from ({', '.join(FACTOR_NAMES)}); MNIST's class is its digit (leave it null)")
        if self.source == "hf" and self.hf_name is None:
            raise ConfigError("data.source is 'hf' but data.hf_name is not set")


# The schedule kinds are the shared config's: only the default differs here.
_KL_KINDS = typing.get_type_hints(KLScheduleConfig)["kind"]


@dataclass
class ImageKLScheduleConfig(KLScheduleConfig):
    """The text side's KL schedule, constant by default: an image VAE's objective is the plain
    ELBO (times the model's ``beta``) from the first step, as in Kingma & Welling 2014 and
    Higgins et al. 2017. The text default, Bowman et al.'s logistic annealing, is a remedy for
    posterior collapse under an autoregressive decoder; an image run asks for it explicitly."""

    kind: _KL_KINDS = "constant"


@dataclass
class ImageTrainConfig(TrainConfig):
    """:class:`textvae.config.TrainConfig` with the image KL default
    (:class:`ImageKLScheduleConfig`); every other field and check is the shared one."""

    kl: ImageKLScheduleConfig = field(default_factory=ImageKLScheduleConfig)


@dataclass
class ImageConfig:
    """A whole image run: data, model and (shared) training settings."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)


@dataclass
class SemiSupTrainConfig(ImageTrainConfig):
    """:class:`ImageTrainConfig` and what a semi-supervised run adds: every step trains on
    ``batch_size`` unlabelled images and ``labelled_batch_size`` labelled ones (cycling through
    the labelled set); ``alpha_scale`` weighs the classification term per example (0.1 is
    Kingma et al.'s alpha = 0.1 N; :mod:`textvae.semisupervised`)."""

    labelled_batch_size: int = 100
    alpha_scale: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labelled_batch_size <= 0:
            raise ConfigError(
                f"train.labelled_batch_size must be positive, got {self.labelled_batch_size}")
        if self.alpha_scale < 0:
            raise ConfigError(f"train.alpha_scale must be >= 0, got {self.alpha_scale}")


@dataclass
class SemiSupConfig:
    """A semi-supervised image run (M2, M1+M2, or the classifier alone): data, model, train."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: M2Config = field(default_factory=M2Config)
    train: SemiSupTrainConfig = field(default_factory=SemiSupTrainConfig)


SEMI_SUPERVISED_TYPES = ("m2", "classifier")  # model.model_type values of SemiSupConfig


@dataclass
class PriorRunConfig:
    """A PixelCNN prior over a trained VQ run's codes (``model.model_type: prior``,
    :mod:`textvae.image.prior`): no data section, the images are the VQ run's (``model.vq_run``)."""

    model: CodePriorConfig = field(default_factory=CodePriorConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)


def config_class_for(model_type: str | None) -> type:
    """The config class of an image run whose ``model.model_type`` is ``model_type``."""
    if model_type == "prior":
        return PriorRunConfig
    return SemiSupConfig if model_type in SEMI_SUPERVISED_TYPES else ImageConfig


def load_image_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> ImageConfig | SemiSupConfig:
    """Defaults, then the YAML file (if any), then dotted ``--set`` overrides. A
    ``model.model_type`` of ``m2`` or ``classifier`` makes a :class:`SemiSupConfig`.

    Raises:
        ConfigError: for a missing file, bad YAML, unknown keys, wrong types or invalid choices.
    """
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, overrides or [])
    model = data.get("model")
    model_type = model.get("model_type") if isinstance(model, dict) else None
    return from_dict(config_class_for(model_type), data)
