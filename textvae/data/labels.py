"""Labels: the label set a run knows, reading labelled sentences, and the seeded few-label draw.

A run's labels are one or more *factors* (``sentiment``; or ``topic``, ``tense``, ``mood`` on the
grammar corpus), each with a fixed, ordered list of values. Models see a label as one class index
per factor; :class:`LabelSet` maps between the names a user types and those indices, and is saved
with the checkpoint so that ``sample --label tense=past`` means the same thing after loading.

An example without a label carries :data:`UNLABELLED` (-1) in every factor.

Readers (each returns sentences and, per sentence, a dict of factor values as strings, or None):

- ``label<TAB>sentence`` text files (:func:`read_tsv`; a line with no tab is an unlabelled
  sentence, so a file may be labelled in part);
- JSON Lines with a text field and label fields (:func:`read_jsonl`; a missing or null label is
  unlabelled);
- Hugging Face ``datasets`` with a label column (:func:`records_from_columns`; a
  ``ClassLabel`` column gives its names);
- the built-in grammar corpus, any of its factors (:func:`grammar_records`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textvae.errors import DataError, InputError

UNLABELLED = -1

# The grammar corpus's factors a model can be conditioned on, in the order their values print.
GRAMMAR_FACTORS = ("topic", "tense", "number", "mood", "negation")


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


# ----------------------------------------------------------------------------------------------
# Readers: (sentences, labels) with labels[i] a dict of factor -> value string, or None.

Records = tuple[list[str], list[dict[str, str] | None]]


def read_tsv(path: str | Path, factor: str) -> Records:
    """``label<TAB>sentence`` lines; a line without a tab is an unlabelled sentence."""
    sentences: list[str] = []
    labels: list[dict[str, str] | None] = []
    for number, line in enumerate(_lines(path), start=1):
        label, tab, text = line.partition("\t")
        if not tab:
            label, text = "", line
        text = " ".join(text.split())
        if not text:
            if tab:
                raise DataError(f"{path}:{number}: a label with no sentence")
            continue
        sentences.append(text)
        labels.append({factor: label.strip()} if label.strip() else None)
    return _nonempty(sentences, labels, path)


def read_jsonl(path: str | Path, text_field: str, factors: Sequence[str]) -> Records:
    """JSON Lines, one object per line with ``text_field`` and the factor fields (a missing or
    null factor is unlabelled)."""
    sentences: list[str] = []
    labels: list[dict[str, str] | None] = []
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not JSON ({err.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise DataError(f"{path}:{number}: no string field {text_field!r}")
        present = {name: str(record[name]) for name in factors if record.get(name) is not None}
        sentences.append(" ".join(record[text_field].split()))
        labels.append(present or None)
    return _nonempty(sentences, labels, path)


def records_from_columns(texts: Sequence[str], columns: Mapping[str, Sequence[Any]],
                         names: Mapping[str, Sequence[str]] | None = None) -> Records:
    """Sentences and label columns (from ``datasets``): ``columns`` maps a factor to its column;
    ``names`` maps a factor to its ``ClassLabel`` names (ids then become names). A None or
    negative id is unlabelled."""
    labels: list[dict[str, str] | None] = []
    for i in range(len(texts)):
        present = {}
        for factor, column in columns.items():
            value = column[i]
            if value is None or (isinstance(value, int) and value < 0):
                continue
            if names is not None and factor in names and isinstance(value, int):
                value = names[factor][value]
            present[factor] = str(value)
        labels.append(present or None)
    return [" ".join(t.split()) for t in texts], labels


def grammar_records(sentences: Sequence[Any], factors: Sequence[str]) -> Records:
    """Grammar-corpus sentences (``GrammarSentence``) with the chosen factors as labels."""
    unknown = [f for f in factors if f not in GRAMMAR_FACTORS]
    if unknown:
        raise DataError(f"the grammar corpus has no factor {', '.join(unknown)}; "
                        f"its factors: {', '.join(GRAMMAR_FACTORS)}")
    return ([s.text for s in sentences],
            [{name: _grammar_value(s.labels[name]) for name in factors} for s in sentences])


def _grammar_value(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _lines(path: str | Path) -> list[str]:
    try:
        # utf-8-sig: a byte order mark is not part of the first label. Lines end at newlines only
        # (read_text makes \r\n and \r one): str.splitlines would also cut at U+2028, U+0085 or a
        # form feed inside a sentence (or a JSON string), and shift the line numbers in messages.
        return Path(path).read_text(encoding="utf-8-sig").split("\n")
    except FileNotFoundError:
        raise DataError(f"labelled file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:  # a directory, no permission
        raise DataError(f"cannot read labelled file {path}: {err.strerror or err}") from None


def _nonempty(sentences: list[str], labels: list[dict[str, str] | None], path: str | Path) -> Records:
    if not sentences:
        raise DataError(f"{path} holds no sentences")
    return sentences, labels
