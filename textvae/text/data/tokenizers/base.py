"""What every tokenizer kind shares: the interface, the special ids and the saved metadata.

Every kind puts the same special ids first, in this fixed order::

    pad = 0, unk = 1, bos = 2, eos = 3

``encode`` never adds ``bos``/``eos``; the batching code adds them. ``decode`` skips ``pad`` and ``bos``
and stops at the first ``eos``, so it can be given a raw decoder output row.

A tokenizer saves itself into a directory as plain files: ``textvae_tokenizer.json`` (written by
:func:`write_meta`, last, so a directory with it is complete; its ``"type"`` field names the kind)
and whatever model files the kind needs. Nothing is pickled. Tokenizers saved before that name
wrote ``tokenizer.json`` (:data:`LEGACY_TOKENIZER_FILE`), the Hugging Face file name with other
contents; loading still reads it when the new file is absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textvae.core.errors import CheckpointError
from textvae.core.files import write_text

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
"""The special ids, identical for every tokenizer kind."""

TOKENIZER_FILE = "textvae_tokenizer.json"
"""The metadata file every kind writes (not ``tokenizer.json``: that name is Hugging Face's)."""
LEGACY_TOKENIZER_FILE = "tokenizer.json"
"""The metadata file's name before it was renamed; still read when :data:`TOKENIZER_FILE` is absent."""
SPM_MODEL_FILE = "spm.model"
HF_TOKENIZER_FILE = "hf_tokenizer.json"
"""The copy of a Hugging Face ``tokenizer.json`` that the ``hf`` kind keeps beside its metadata."""
FORMAT_VERSION = 1


@runtime_checkable
class Tokenizer(Protocol):
    """What the rest of textvae needs from a tokenizer."""

    @property
    def pad_id(self) -> int: ...

    @property
    def unk_id(self) -> int: ...

    @property
    def bos_id(self) -> int: ...

    @property
    def eos_id(self) -> int: ...

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without ``bos``/``eos``."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``: skips ``pad``/``bos``, stops at the first ``eos``."""
        ...

    def tokenize(self, text: str) -> list[str]:
        """The token strings that ``encode`` would map to ids."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the tokenizer's files into ``directory`` (created if needed)."""
        ...


def specials_until_eos(ids: Sequence[int], vocab_size: int) -> list[int]:
    """Ids before the first eos, without pad/bos; checks the range of every id kept."""
    kept = []
    for raw in ids:
        i = int(raw)
        if i == EOS_ID:
            break
        if i == PAD_ID or i == BOS_ID:
            continue
        if not 0 <= i < vocab_size:
            raise ValueError(f"token id {i} is out of range for a vocabulary of {vocab_size} ids")
        kept.append(i)
    return kept


class SharedSpecialIds:
    """Every tokenizer kind puts the specials at the same ids (pad 0, unk 1, bos 2, eos 3)."""

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` as the directory's ``textvae_tokenizer.json``, atomically (created if needed).

    Raises:
        FileWriteError: the file could not be written (the previous one is left as it was).
    """
    text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    write_text(directory / TOKENIZER_FILE, text, make_parents=True)


def check_saved_size(path: Path, vocab_size: int, meta: dict[str, Any], unit: str) -> None:
    """Refuse a tokenizer file whose size disagrees with the metadata saved beside it.

    Raises:
        CheckpointError: the two files belong to different tokenizers.
    """
    if meta.get("vocab_size", vocab_size) != vocab_size:
        raise CheckpointError(
            f"{path} has {vocab_size} {unit} but the saved metadata says {meta['vocab_size']}; "
            "the two files do not belong together, re-save the tokenizer"
        )
