"""Label sets and the seeded few-label draw, shared by the text and image sides.

A run's labels are one or more *factors* (``sentiment``; ``topic``, ``tense``, ``mood`` on the
grammar corpus; MNIST's ``digit``; the sprites' ``shape``), each with a fixed, ordered list of
values. Models see a label as one class index per factor; :class:`LabelSet` maps between the names
a user types and those indices, and is saved with the checkpoint so that ``sample --label
tense=past`` means the same thing after loading. :func:`draw_per_class` is Kingma et al.'s
balanced few-label setting. Reading labelled sentences is the text side's
(:mod:`textvae.text.data.labels`).

An example without a label carries :data:`UNLABELLED` (-1) in every factor.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from textvae.core.errors import DataError, InputError

UNLABELLED = -1

@dataclass(frozen=True)
class LabelSet:
    """Factor names and each factor's values, in a fixed order (index = class id).

    Attributes:
        factors: factor name -> its values as strings (F factors, C_f values each).
    """

    factors: dict[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        if not self.factors:
            raise DataError("a label set needs at least one factor")
        for name, values in self.factors.items():
            if len(values) < 2:
                raise DataError(f"label factor {name!r} has {len(values)} value(s) ({', '.join(values)}); "
                                "a label needs at least two")
            if len(set(values)) != len(values):
                raise DataError(f"label factor {name!r} lists a value twice")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.factors)

    @property
    def sizes(self) -> tuple[int, ...]:
        """(C_1, ..., C_F): the number of classes of each factor."""
        return tuple(len(values) for values in self.factors.values())

    def index(self, factor: str, value: str) -> int:
        """The class id of ``value`` in ``factor``; one clear error naming the known ones."""
        if factor not in self.factors:
            raise InputError(f"unknown label factor {factor!r}; this model knows: {', '.join(self.factors)}")
        values = self.factors[factor]
        if str(value) not in values:
            raise InputError(f"unknown label {factor}={value}; known values of {factor}: {', '.join(values)}")
        return values.index(str(value))

    def value(self, factor: str, index: int) -> str:
        return self.factors[factor][index]

    def encode(self, labels: Mapping[str, Any] | None) -> list[int]:
        """One example's labels -> (F,) class ids, :data:`UNLABELLED` where a factor is missing."""
        if labels is None:
            return [UNLABELLED] * len(self.factors)
        return [UNLABELLED if labels.get(name) is None else self.index(name, str(labels[name]))
                for name in self.factors]

    def parse(self, assignments: Sequence[str]) -> dict[str, int]:
        """``["tense=past", "mood=question"]`` (or a bare ``"past"`` when the set has one factor)
        -> factor -> class id. Each factor at most once."""
        chosen: dict[str, int] = {}
        for text in assignments:
            if "=" in text:
                factor, value = (part.strip() for part in text.split("=", 1))
            elif len(self.factors) == 1:
                factor, value = self.names[0], text.strip()
            else:
                raise InputError(f"label {text!r} names no factor; write FACTOR=VALUE with a factor "
                                 f"of: {', '.join(self.factors)}")
            if factor in chosen:
                raise InputError(f"label factor {factor!r} is given twice")
            chosen[factor] = self.index(factor, value)
        return chosen

    def describe(self, ids: Sequence[int]) -> str:
        """(F,) class ids -> ``"tense=past mood=question"``."""
        return " ".join(f"{name}={self.value(name, int(i))}" for name, i in zip(self.factors, ids, strict=True))

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(values) for name, values in self.factors.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> LabelSet:
        return cls({str(name): tuple(str(v) for v in values) for name, values in data.items()})

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any] | None], factors: Sequence[str]) -> LabelSet:
        """The label set that the values seen in ``records`` make, values sorted (numbers by
        value), so the same data always gives the same class ids."""
        seen: dict[str, set[str]] = {name: set() for name in factors}
        for labels in records:
            for name in factors:
                if labels is not None and labels.get(name) is not None:
                    seen[name].add(str(labels[name]))
        return cls({name: tuple(sorted(values, key=_value_order)) for name, values in seen.items()})


def _value_order(value: str) -> tuple[int, float, str]:
    try:
        number = float(value)
    except ValueError:
        return (1, 0.0, value)
    # "nan" sorts as a word: a NaN key compares neither less nor greater, and would leave the
    # order (so the class ids) to the set's iteration order, which changes with the hash seed.
    return (1, 0.0, value) if math.isnan(number) else (0, number, value)


def draw_per_class(labels: Sequence[int], per_class: int, seed: int) -> list[int]:
    """A seeded draw of ``per_class`` indices of each class (Kingma et al.'s balanced few-label
    setting), sorted. ``labels``: (N,) class ids; unlabelled entries are never drawn.

    The draw for one seed does not depend on anything else (not the other classes' counts).
    """
    if per_class <= 0:
        raise DataError(f"labels_per_class must be positive, got {per_class}")
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        if label != UNLABELLED:
            by_class.setdefault(int(label), []).append(i)
    drawn: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < per_class:
            raise DataError(f"class {label} has only {len(members)} labelled examples, fewer than "
                            f"labels_per_class={per_class}")
        drawn.extend(random.Random(f"{seed}:{label}").sample(members, per_class))
    return sorted(drawn)
