"""Text checkpoints: the shared format (:mod:`textvae.core.checkpoint`) with what a text run saves
beside its weights, its tokenizer, and the checks that tie the three together.

:data:`TEXT` is the text side's :class:`~textvae.core.checkpoint.CheckpointKind`;
:func:`load_checkpoint` reads a text checkpoint (or a run directory's ``best``, else ``last``);
:func:`starting_weights` gives a new or resumed run its weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from textvae.core.checkpoint import Checkpoint, CheckpointKind, load_weights
from textvae.core.checkpoint import load_checkpoint as load_any_checkpoint
from textvae.core.errors import CheckpointError
from textvae.core.warm_start import load_matching_weights
from textvae.text.data.tokenizers import Tokenizer, load_tokenizer
from textvae.text.models.sentence_vae import MODEL_TYPES
from textvae.text.run.config import Config


def _check_model_type(path: Path, meta: dict) -> None:
    """A text command loads sentence models only; say so before reading another's config."""
    model_type = meta.get("model_type")
    if model_type is not None and model_type not in MODEL_TYPES:
        raise CheckpointError(
            f"{path} holds a model of type {model_type!r}, which textvae's text commands cannot "
            f"load (they load the sentence models: {', '.join(MODEL_TYPES)}); check the path"
        )


def _read_tokenizer(path: Path, meta: dict, config: Any) -> Tokenizer:
    """The checkpoint's tokenizer, checked against meta.json: the same model type as
    config.yaml and the vocabulary size the weights were trained with."""
    tokenizer = load_tokenizer(path / "tokenizer")
    model_type = meta.get("model_type")
    if model_type is not None and model_type != config.model.model_type:
        raise CheckpointError(
            f"{path}: meta.json says model type {model_type!r} but config.yaml describes "
            f"{config.model.model_type!r}; the checkpoint was assembled from two runs"
        )
    expected_vocab = meta.get("vocab_size")
    if expected_vocab is not None and expected_vocab != tokenizer.vocab_size:
        raise CheckpointError(
            f"{path}: the tokenizer has {tokenizer.vocab_size} ids but the weights were trained "
            f"with {expected_vocab} (meta.json); the tokenizer/ directory belongs to another run. "
            "Use the tokenizer saved with these weights"
        )
    return tokenizer


TEXT = CheckpointKind("text", Config, check_meta=_check_model_type, read_parts=_read_tokenizer)


def load_checkpoint(path: str | os.PathLike[str], *, with_trainer: bool = False) -> Checkpoint:
    """Read a text checkpoint (config, tokenizer, weights; with ``with_trainer`` the training
    state too) from a checkpoint directory or a run directory.

    Raises:
        CheckpointError: missing or unreadable files, another kind of checkpoint, or a
            tokenizer or model type that does not match the weights.
    """
    return load_any_checkpoint(path, TEXT, with_trainer=with_trainer)


def starting_weights(model: nn.Module, resumed: Checkpoint | None, init_from: str | None,
                     log: Callable[[str], None]) -> None:
    """Give a freshly built model the weights its run starts from: a resumed run's own, else
    those of ``train.init_from`` wherever names agree (:mod:`textvae.core.warm_start`), else
    none (the model's initialisation)."""
    if resumed is not None:
        load_weights(model, resumed)
    elif init_from is not None:
        source = load_checkpoint(init_from)
        log(load_matching_weights(model, source.model_state, source=str(source.path)).summary(init_from))
