"""The ``labels`` keys that text and image runs share: which factors are the classes, the seeded
few-label draw and the weight of the classification term (Kingma et al. 2014).

Each side extends these with what only its trainers read: text runs with the labelled mode, the
file format, the label embedding and M2's classifier (:class:`textvae.text.run.config.LabelsConfig`);
semi-supervised image runs with the labelled batch size, and plain image runs keep only the
class factor (:mod:`textvae.image.run.config`). So a key a side does not read is not in its
``labels`` section, and ``from_dict`` refuses it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textvae.core.errors import ConfigError


@dataclass
class LabelFactorsConfig:
    """``factors``: the label factors a run reads as classes ([]: none, or the data's own one
    class, such as MNIST's digit)."""

    factors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.factors)) != len(self.factors):
            raise ConfigError(f"labels.factors lists a factor twice: {self.factors}")


@dataclass
class SharedLabelsConfig(LabelFactorsConfig):
    """The factors, and what a run with few labels adds: a seeded draw of ``labels_per_class``
    labelled training examples per class (``label_seed``; null keeps every label, the rest are
    used unlabelled; :func:`textvae.core.label_sets.draw_per_class`) and the classification term's
    weight per example, ``alpha_scale`` (Kingma et al.'s alpha = ``alpha_scale`` * N;
    :mod:`textvae.core.semisupervised`)."""

    labels_per_class: int | None = None
    label_seed: int = 0
    alpha_scale: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labels_per_class is not None and self.labels_per_class <= 0:
            raise ConfigError(f"labels.labels_per_class must be positive or null, got {self.labels_per_class}")
        if self.alpha_scale < 0:
            raise ConfigError(f"labels.alpha_scale must be >= 0, got {self.alpha_scale}")
