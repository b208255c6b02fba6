"""Reading labelled sentences. The label sets they fill and the few-label draw are shared with the
image side: :mod:`textvae.core.label_sets`.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textvae.core.errors import DataError

# The grammar corpus's factors a model can be conditioned on, in the order their values print.
GRAMMAR_FACTORS = ("topic", "tense", "number", "mood", "negation")


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
