"""Image run configs: their own data and model sections, the training loop's shared keys
with an image default for the KL schedule, and the label keys shared with text runs.

A YAML file has the sections ``data`` (:class:`ImageDataConfig`), ``model``
(:class:`~textvae.image.models.vae.ImageModelConfig`), ``train`` (:class:`ImageTrainConfig`: the
loop's :class:`~textvae.core.loop_config.LoopTrainConfig`, whose ``kl.kind`` defaults to
``constant`` here) and ``labels``: a plain run's :class:`ImageLabelsConfig` (the sprites'
factor that is the class), a semi-supervised run's :class:`SemiSupLabelsConfig` (that, the
few-label draw, the classification weight and the labelled batch size). A text-only key (word
dropout, free bits, ...) is not an image key, so it is refused by name. Loading, dotted
``--set`` overrides and strict validation are :mod:`textvae.core.config_types`'.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from textvae.core.config_files import apply_overrides, read_yaml
from textvae.core.config_types import RunConfig, check_positive, from_dict
from textvae.core.errors import ConfigError
from textvae.core.label_config import LabelFactorsConfig, SharedLabelsConfig
from textvae.core.loop_config import KLScheduleConfig, LoopTrainConfig
from textvae.image.models.m2 import M2Config
from textvae.image.models.prior import CodePriorConfig
from textvae.image.models.vae import ImageModelConfig
from textvae.image.pixels.sprites import FACTOR_NAMES


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

    ``degrade`` (image-to-image VAEs, :mod:`textvae.image.run.degrade`): ``none``, ``noise``
    (Gaussian, std ``noise_std`` of the range, clipped to [0, 1]), ``mask`` (a random half of
    each image hidden) or ``downsample`` (2x2 area average); the encoder sees the degraded image,
    the decoder is scored on the clean one. Training batches get a fresh draw; validation and
    test sets one fixed draw (``degrade_seed`` plus a per-split offset).

    Which labels a run reads (the sprites' class factor, the few-label draw) is its ``labels``
    section's.
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
    # Image-to-image runs (textvae.image.run.degrade): the encoder sees the degraded image.
    degrade: Literal["none", "noise", "mask", "downsample"] = "none"
    noise_std: float = 0.5
    degrade_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.noise_std <= 1.0:
            raise ConfigError(
                f"data.noise_std is a fraction of the intensity range, in (0, 1]; got {self.noise_std}")
        if self.sprites_size <= 0:
            raise ConfigError(f"data.sprites_size must be positive, got {self.sprites_size}")
        if self.valid_size < 0:
            raise ConfigError(f"data.valid_size must be >= 0, got {self.valid_size}")
        if self.source == "hf" and self.hf_name is None:
            raise ConfigError("data.source is 'hf' but data.hf_name is not set")


# train.kl.kind of an image run: the pure schedules of textvae.core.objectives.KL_SCHEDULES.
ImageKLKind = Literal["constant", "linear", "logistic", "cyclical"]


@dataclass
class ImageKLScheduleConfig(KLScheduleConfig):
    """The text side's KL schedule, constant by default: an image VAE's objective is the plain
    ELBO (times the model's ``beta``) from the first step, as in Kingma & Welling 2014 and
    Higgins et al. 2017. The text default, Bowman et al.'s logistic annealing, is a remedy for
    posterior collapse under an autoregressive decoder; an image run asks for it explicitly.
    The KL set point (``target``) is the text VAE's: the image trainers take a weight that is a
    function of the step."""

    kind: ImageKLKind = "constant"  # the shared kinds but target; only the default differs here


@dataclass
class ImageTrainConfig(LoopTrainConfig):
    """The loop's :class:`~textvae.core.loop_config.LoopTrainConfig` with the image KL default
    (:class:`ImageKLScheduleConfig`); every other field and check is the shared one."""

    kl: ImageKLScheduleConfig = field(default_factory=ImageKLScheduleConfig)


@dataclass
class ImageLabelsConfig(LabelFactorsConfig):
    """A plain image run's labels: ``factors``, the sprites' factor that is the class of the
    images (e.g. ``[shape]``), read by whatever reads the run's classes (a class-conditional
    prior over a VQ run's codes, :mod:`textvae.image.training.prior_train`). Empty: no factor chosen
    (MNIST's class is its digit)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_factor_at_most(self.factors)


@dataclass
class SemiSupLabelsConfig(SharedLabelsConfig):
    """A semi-supervised image run's labels: the shared keys
    (:class:`~textvae.core.label_config.SharedLabelsConfig`) and the labelled batch size.

    ``factors``: the sprites' factor that is the class (e.g. ``[shape]``; empty for MNIST, whose
    class is its digit). ``labels_per_class`` training images of each class keep their label,
    drawn with ``label_seed`` (null: every training label is kept); the rest of the training
    split is unlabelled. Every step trains on ``train.batch_size`` unlabelled images and
    ``labelled_batch_size`` labelled ones (cycling through the labelled set); ``alpha_scale``
    weighs the classification term per example (0.1 is Kingma et al.'s alpha = 0.1 N)."""

    labelled_batch_size: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        _one_factor_at_most(self.factors)
        check_positive(self, "labels", "labelled_batch_size")


def _one_factor_at_most(factors: list[str]) -> None:
    if len(factors) > 1:
        raise ConfigError(f"labels.factors names one factor at most in an image run (the "
                          f"sprites' class, e.g. [shape]); got {factors}")


def _check_class_factor(data: ImageDataConfig, labels: LabelFactorsConfig) -> None:
    """Only sprites have factors to choose the class from."""
    if labels.factors and (data.source != "sprites" or labels.factors[0] not in FACTOR_NAMES):
        raise ConfigError(
            f"labels.factors {labels.factors}: only sprites have factors to choose from "
            f"({', '.join(FACTOR_NAMES)}); MNIST's class is its digit (leave it empty)")


def class_factor(config: ImageConfig | SemiSupConfig) -> str | None:
    """The sprites' factor that is the class of an image run (``labels.factors``), or None."""
    return config.labels.factors[0] if config.labels.factors else None


# Text-only train keys that image checkpoints saved before the train section was split (when
# ImageTrainConfig inherited the text TrainConfig) hold. No image trainer ever read them, so
# whatever they say is dropped on load.
TEXT_KEYS_IN_OLD_IMAGE_CHECKPOINTS = (
    "bucketed", "word_dropout", "free_bits", "free_bits_mode", "compile", "aggressive",
    "aggressive_max_inner", "pretrain_ae_steps", "collapse_warning", "collapse_patience",
)
# Where image runs kept their label settings before the one labels section: (section, key) ->
# the labels key. A run whose labels section has that key gets the value; nothing read the
# others (a plain run's draw), so they are dropped.
OLD_LABEL_KEYS = {
    ("data", "label_factor"): "factors",
    ("data", "labels_per_class"): "labels_per_class",
    ("data", "label_seed"): "label_seed",
    ("train", "labelled_batch_size"): "labelled_batch_size",
    ("train", "alpha_scale"): "alpha_scale",
}


class _SavedImageRun(RunConfig):
    """How an image run's saved ``config.yaml`` of an older textvae reads today; ``run_kind``
    names the kind of run (:data:`RUN_KINDS`)."""

    run_kind: ClassVar[str]

    @classmethod
    def upgrade_saved(cls, raw: dict) -> dict:
        raw = dict(raw)
        train = raw.get("train")
        if isinstance(train, dict):
            raw["train"] = {k: v for k, v in train.items()
                            if k not in TEXT_KEYS_IN_OLD_IMAGE_CHECKPOINTS}
        return cls._move_label_keys(raw)

    @classmethod
    def _move_label_keys(cls, raw: dict) -> dict:
        """``data.label_factor`` (one name or null) -> ``labels.factors`` ([name] or []), and
        the draw, weight and labelled batch of a semi-supervised run -> ``labels.*``."""
        keys = cls.label_keys()
        labels = dict(raw.get("labels") or {})
        for (section, old), new in OLD_LABEL_KEYS.items():
            part = raw.get(section)
            if not isinstance(part, dict) or old not in part:
                continue
            value = part[old]
            raw[section] = {k: v for k, v in part.items() if k != old}
            if new in keys:
                labels.setdefault(new, ([] if value is None else [value]) if new == "factors"
                                  else value)
        if labels:
            raw["labels"] = labels
        return raw

    @classmethod
    def label_keys(cls) -> set[str]:
        """The keys of this run's ``labels`` section (none without one)."""
        section = typing.get_type_hints(cls).get("labels")
        return {f.name for f in dataclasses.fields(section)} if section is not None else set()


@dataclass
class ImageConfig(_SavedImageRun):
    """A whole image run: data, model, (shared) training settings and the class factor."""

    run_kind: ClassVar[str] = "image"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    labels: ImageLabelsConfig = field(default_factory=ImageLabelsConfig)

    def __post_init__(self) -> None:
        _check_class_factor(self.data, self.labels)


@dataclass
class SemiSupConfig(_SavedImageRun):
    """A semi-supervised image run (M2, M1+M2, or the classifier alone): data, model, train
    and labels."""

    run_kind: ClassVar[str] = "semisup"
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: M2Config = field(default_factory=M2Config)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    labels: SemiSupLabelsConfig = field(default_factory=SemiSupLabelsConfig)

    def __post_init__(self) -> None:
        _check_class_factor(self.data, self.labels)


SEMI_SUPERVISED_TYPES = ("m2", "classifier")  # model.model_type values of SemiSupConfig


@dataclass
class PriorRunConfig(_SavedImageRun):
    """A PixelCNN prior over a trained VQ run's codes (``model.model_type: prior``,
    :mod:`textvae.image.models.prior`): no data section, the images are the VQ run's (``model.vq_run``);
    no labels section, the classes are the VQ run's too."""

    run_kind: ClassVar[str] = "prior"
    model: CodePriorConfig = field(default_factory=CodePriorConfig)
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)


# The kinds of image run, each with its config class (and, in textvae.cli.image, its trainer and
# evaluator): a model type names its kind here; every other model type is a plain image run.
RUN_KINDS: dict[str, type[_SavedImageRun]] = {
    config.run_kind: config for config in (ImageConfig, SemiSupConfig, PriorRunConfig)}
KIND_OF_MODEL_TYPE = {**dict.fromkeys(SEMI_SUPERVISED_TYPES, "semisup"), "prior": "prior"}


def run_kind(model_type: str | None) -> str:
    """The kind of image run (``image``, ``semisup`` or ``prior``) whose ``model.model_type`` is
    ``model_type`` (None: unknown, a plain image run)."""
    return KIND_OF_MODEL_TYPE.get(model_type or "", "image")


def config_class_for(model_type: str | None) -> type[_SavedImageRun]:
    """The config class of an image run whose ``model.model_type`` is ``model_type``."""
    return RUN_KINDS[run_kind(model_type)]


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
    cls = config_class_for(model_type)
    _refuse_moved_label_keys(cls, data)
    return from_dict(cls, data)


def _refuse_moved_label_keys(cls: type[_SavedImageRun], data: dict) -> None:
    """An unknown-key error for a label key at its place before the one ``labels`` section,
    naming where it is now (where the run reads it; elsewhere ``from_dict``'s error stands)."""
    keys = cls.label_keys()
    for (section, old), new in OLD_LABEL_KEYS.items():
        part = data.get(section)
        if isinstance(part, dict) and old in part and new in keys:
            value = "a list, e.g. [shape]" if new == "factors" else "the same value"
            raise ConfigError(f"unknown key '{section}.{old}': image runs keep it in the labels "
                              f"section, as labels.{new} ({value})")
