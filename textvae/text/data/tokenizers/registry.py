"""Every tokenizer kind by name: build one from sentences, or load any saved one."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from textvae.core.errors import CheckpointError, ConfigError
from textvae.text.data.tokenizers.base import (
    FORMAT_VERSION,
    LEGACY_TOKENIZER_FILE,
    TOKENIZER_FILE,
    Tokenizer,
)
from textvae.text.data.tokenizers.hf import HFTokenizer
from textvae.text.data.tokenizers.subword import SentencePieceTokenizer
from textvae.text.data.tokenizers.word import WordTokenizer

# Each kind's ``_load`` reads back what its ``save`` wrote, given the parsed metadata file; it
# is private to this package: callers go through load_tokenizer, which checks the header first.
_LOADERS: dict[str, Callable[[Path, dict[str, Any]], Tokenizer]] = {
    "word": WordTokenizer._load,
    "sentencepiece": SentencePieceTokenizer._load,
    "hf": HFTokenizer._load,
}


def load_tokenizer(directory: str | os.PathLike[str]) -> Tokenizer:
    """Load a tokenizer of any kind from a directory written by its ``save``.

    Raises:
        CheckpointError: the directory or its files are missing, corrupt, or of an unknown kind.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(
            f"tokenizer directory {directory} does not exist; pass a directory written by Tokenizer.save"
        )
    # Tokenizers saved before the rename wrote their metadata as tokenizer.json.
    path = directory / TOKENIZER_FILE
    if not path.is_file() and (directory / LEGACY_TOKENIZER_FILE).is_file():
        path = directory / LEGACY_TOKENIZER_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CheckpointError(
            f"{directory} has no {TOKENIZER_FILE} (nor the {LEGACY_TOKENIZER_FILE} of older textvae "
            "versions); it is not a saved tokenizer (or the save was interrupted)"
        ) from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"cannot read {path} ({e}); the file is corrupt, re-save the tokenizer"
        ) from e
    if isinstance(meta, dict) and "type" not in meta and "model" in meta:
        raise CheckpointError(
            f"{path} is a Hugging Face tokenizer, not one saved by textvae; to use it, set "
            f"data.tokenizer.kind: hf and data.tokenizer.hf_tokenizer: {path}"
        )
    if not isinstance(meta, dict) or meta.get("type") not in _LOADERS:
        kind = meta.get("type") if isinstance(meta, dict) else None
        raise CheckpointError(
            f"{path} names tokenizer type {kind!r}; expected one of {sorted(_LOADERS)}"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {meta.get('format_version')!r}; this textvae reads version "
            f"{FORMAT_VERSION}"
        )
    return _LOADERS[meta["type"]](directory, meta)


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """A SHA-256 of everything the tokenizer saves (every file its ``save`` writes, the metadata
    without the ``hf`` kind's ``source``, which only says where it was read from). Two tokenizers
    with one fingerprint map every text to the same ids and back, whatever their kind."""
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="textvae-tokenizer-") as folder:
        tokenizer.save(folder)
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.name == TOKENIZER_FILE:
                meta = json.loads(data)
                meta.pop("source", None)
                data = json.dumps(meta, sort_keys=True).encode("utf-8")
            name = path.relative_to(folder).as_posix().encode("utf-8")
            digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _build_word(sentences: list[str], **opts: Any) -> Tokenizer:
    return WordTokenizer.build(
        sentences,
        min_freq=opts["min_freq"],
        max_size=opts["max_size"],
        unk_token=opts["unk_token"],
        lowercase=opts["lowercase"],
        split_punctuation=opts["split_punctuation"],
    )


def _build_sentencepiece(sentences: list[str], **opts: Any) -> Tokenizer:
    if opts["vocab_size"] is None:
        raise ConfigError("tokenizer kind 'sentencepiece' needs tokenizer vocab_size (e.g. 8000)")
    return SentencePieceTokenizer.build(
        sentences, vocab_size=opts["vocab_size"], model_type=opts["model_type"]
    )


def _build_hf(sentences: list[str], **opts: Any) -> Tokenizer:
    # Already fit: the training sentences are not used.
    if not opts["hf_tokenizer"]:
        raise ConfigError(
            "tokenizer kind 'hf' needs tokenizer hf_tokenizer (a tokenizer.json file, a directory "
            "holding one, or a hub name)"
        )
    return HFTokenizer.from_source(opts["hf_tokenizer"])


_BUILDERS: dict[str, Callable[..., Tokenizer]] = {
    "word": _build_word,
    "sentencepiece": _build_sentencepiece,
    "hf": _build_hf,
}


def build_tokenizer(
    kind: str,
    sentences: list[str],
    *,
    min_freq: int = 1,
    max_size: int | None = None,
    unk_token: str | None = None,
    vocab_size: int | None = None,
    model_type: Literal["unigram", "bpe"] = "unigram",
    lowercase: bool = False,
    split_punctuation: bool = False,
    hf_tokenizer: str | None = None,
) -> Tokenizer:
    """Build a tokenizer of ``kind`` from training sentences.

    Args:
        kind: "word", "sentencepiece" or "hf".
        sentences: the training sentences (unused by "hf", which is already fit).
        min_freq, max_size, unk_token, lowercase, split_punctuation: options of the "word" kind
            (see :meth:`WordTokenizer.build`).
        vocab_size, model_type: options of the "sentencepiece" kind (see
            :meth:`SentencePieceTokenizer.build`); ``vocab_size`` is required there.
        hf_tokenizer: the "hf" kind's tokenizer, required there (see :meth:`HFTokenizer.from_source`).

    Options of the other kinds are ignored, so one config section can hold them all.

    Raises:
        ConfigError: unknown ``kind`` or invalid options; for "hf", a missing file or package.
        DataError: the sentences cannot make the asked-for tokenizer.
    """
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise ConfigError(
            f"unknown tokenizer kind {kind!r}; expected one of {sorted(_BUILDERS)}"
        ) from None
    return builder(
        sentences,
        min_freq=min_freq,
        max_size=max_size,
        unk_token=unk_token,
        vocab_size=vocab_size,
        model_type=model_type,
        lowercase=lowercase,
        split_punctuation=split_punctuation,
        hf_tokenizer=hf_tokenizer,
    )
