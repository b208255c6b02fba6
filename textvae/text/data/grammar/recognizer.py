"""Recognizing grammar sentences: is a text in the language, and with which labels.

The recognizer is the regular expression of every template tree, one named group per template;
each word form belongs to exactly one lexicon slot, so the group that matches gives the labels.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from textvae.text.data.grammar.templates import Key, template_trees


@cache
def _recognizer() -> tuple[re.Pattern[str], dict[str, Key]]:
    """One regex with a named group per template; the group that matches gives the labels."""
    templates = template_trees()
    names = {f"t{i}": key for i, key in enumerate(templates)}
    body = "|".join(f"(?P<{name}>{templates[key].pattern()})" for name, key in names.items())
    return re.compile(body), names


def parse(sentence: str) -> dict[str, Any] | None:
    """Recover the labels of a sentence, or None if the grammar cannot produce it.

    Args:
        sentence: any string; only exact grammar sentences (single spaces, no surrounding
            whitespace) are accepted.

    Returns:
        The labels (as in :class:`~textvae.text.data.grammar.GrammarSentence`), or None.
    """
    if not isinstance(sentence, str):
        return None
    regex, names = _recognizer()
    # Every terminal in the regex ends with a space, hence the extra one here.
    match = regex.fullmatch(sentence + " ")
    if match is None:
        return None
    return names[match.lastgroup].labels(sentence.count(" ") + 1)  # type: ignore[index]


def is_grammatical(sentence: str) -> bool:
    """Whether the grammar can generate ``sentence`` (with nonzero probability).

    Never raises: anything that is not exactly a grammar sentence gives False.
    """
    return parse(sentence) is not None
