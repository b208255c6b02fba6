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
from textvae.image.models import ImageModelConfig


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

    def __post_init__(self) -> None:
        if self.sprites_size <= 0:
            raise ConfigError(f"data.sprites_size must be positive, got {self.sprites_size}")
        if self.valid_size < 0:
            raise ConfigError(f"data.valid_size must be >= 0, got {self.valid_size}")
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


def load_image_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> ImageConfig:
    """Defaults, then the YAML file (if any), then dotted ``--set`` overrides.

    Raises:
        ConfigError: for a missing file, bad YAML, unknown keys, wrong types or invalid choices.
    """
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, overrides or [])
    return from_dict(ImageConfig, data)
