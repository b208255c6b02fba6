"""The one check of what the model API is given: sentences that are strings, labels that are
names, and latent codes that are finite numbers (:func:`~textvae.text.generate.latents.check_finite`,
which the latent paths of :mod:`textvae.text.generate` use too). Every :class:`~textvae.text.api.model.TextVAE`
method (and :class:`~textvae.text.api.labelled.LabelledTextVAE`'s) checks its inputs here, so a wrong
type is one :class:`InputError` that names the argument, never a ``TypeError`` from deep inside
the tokenizer or a silently empty decode of NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import InputError
from textvae.text.generate.latents import check_finite


def preview(sentence: str, width: int = 60) -> str:
    """The sentence's repr, cut short so that an error message stays one readable line."""
    text = repr(sentence)
    return text if len(text) <= width else f"{text[: width - 5]}...{text[-1]} ({len(sentence):,} characters)"


def describe(value: Any, width: int = 40) -> str:
    """A value for an error message: ``None``, or its type and a short repr (``int (3)``)."""
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > width:
        text = text[: width - 3] + "..."
    return f"{type(value).__name__} ({text})"


def sentence_list(sentences: Any, name: str = "sentences") -> list[str]:
    """``sentences`` as a list of strings (any iterable of them: a list, a tuple, a generator).

    Raises:
        InputError: ``sentences must be a list of strings, got None``; one string (``wrap it in
            a list``); ``sentences[2] is int (3), not a string``.
    """
    if isinstance(sentences, str):
        raise InputError(f"expected a list of sentences, got the string {preview(sentences)}; wrap it in a list")
    if (sentences is None or isinstance(sentences, (bytes, bytearray, Mapping))
            or not isinstance(sentences, Iterable)):
        raise InputError(f"{name} must be a list of strings, got {describe(sentences)}")
    out = list(sentences)
    for i, sentence in enumerate(out):
        if not isinstance(sentence, str):
            raise InputError(f"{name}[{i}] is {describe(sentence)}, not a string")
    return out


def one_sentence(sentence: Any, name: str) -> str:
    """One sentence argument (``a`` of :meth:`interpolate`), which must be a string."""
    if not isinstance(sentence, str):
        raise InputError(f"{name} must be a string (one sentence), got {describe(sentence)}")
    return sentence


def label_request(request: Any, name: str = "label") -> list[str] | None:
    """A label request as ``FACTOR=VALUE`` strings: ``{"tense": "past"}``, ``["tense=past"]``,
    ``"past"`` (one factor), or None (no label)."""
    if request is None:
        return None
    if isinstance(request, str):
        return [request]
    if isinstance(request, Mapping):
        return [f"{k}={v}" for k, v in request.items()]
    if isinstance(request, Iterable) and not isinstance(request, (bytes, bytearray)):
        items = list(request)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(f"{name}[{i}] is {describe(item)}, not a 'FACTOR=VALUE' string")
        return items
    raise InputError(f"{name} must be 'FACTOR=VALUE', a list of them or a dict, got {describe(request)}")


def latent_tensor(z: Any, latent_dim: int, device: torch.device) -> Tensor:
    """``z`` as a finite float32 (S, Z) tensor on ``device`` (a (Z,) vector is one row)."""
    try:
        z = torch.as_tensor(z, dtype=torch.float32, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"z must be a tensor or a list of rows of numbers, shape (S, {latent_dim}); "
                         f"got {describe(z)}") from None
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise InputError(f"z must have shape (S, {latent_dim}) for this model, got {tuple(z.shape)}")
    check_finite(z)
    return z
