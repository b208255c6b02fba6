"""The SentencePiece tokenizer: a trained subword model, unigram or BPE."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from textvae.core.errors import CheckpointError, ConfigError, DataError
from textvae.core.files import write_bytes
from textvae.text.data.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    FORMAT_VERSION,
    PAD_ID,
    SPM_MODEL_FILE,
    UNK_ID,
    SharedSpecialIds,
    check_saved_size,
    specials_until_eos,
    write_meta,
)

# SentencePiece's trained model depends on its thread count, so it is fixed (not os.cpu_count())
# to make a tokenizer reproducible across machines.
_SPM_THREADS = 2


class SentencePieceTokenizer(SharedSpecialIds):
    """A SentencePiece subword model (Kudo & Richardson 2018), "unigram" or "bpe".

    SentencePiece applies its default ``nmt_nfkc`` normalization (NFKC, whitespace runs collapsed), so
    ``decode(encode(s))`` equals ``s`` for normalized text made of characters seen in training; unseen
    characters decode as `` ⁇ ``.

    Args:
        model_proto: the serialized model (the bytes of a ``.model`` file).
    """

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(model_proto)
        except RuntimeError as e:
            raise ValueError("not a valid SentencePiece model") from e
        got = (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id())
        if got != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise ValueError(
                f"the SentencePiece model has special ids (pad, unk, bos, eos) = {got}, "
                f"textvae needs {(PAD_ID, UNK_ID, BOS_ID, EOS_ID)}"
            )
        self._proto = bytes(model_proto)
        self._sp = processor

    @classmethod
    def build(
        cls,
        sentences: Iterable[str],
        *,
        vocab_size: int,
        model_type: Literal["unigram", "bpe"] = "unigram",
    ) -> SentencePieceTokenizer:
        """Train a model on ``sentences``, in memory (nothing is written to disk).

        The vocabulary size is a hard limit: the model has exactly ``vocab_size`` pieces (the four
        specials included) or building fails.

        Raises:
            ConfigError: ``model_type`` is not "unigram" or "bpe", or ``vocab_size`` < 5.
            DataError: no sentences, or the corpus is too small for ``vocab_size`` (the message gives
                the largest size that works when SentencePiece reports it).
        """
        import sentencepiece as spm

        if model_type not in ("unigram", "bpe"):
            raise ConfigError(
                f"tokenizer model_type must be 'unigram' or 'bpe', got {model_type!r}"
            )
        if vocab_size < 5:
            raise ConfigError(
                f"tokenizer vocab_size must be >= 5 (4 specials + 1), got {vocab_size}"
            )
        sentences = [s for s in sentences if s.strip()]
        if not sentences:
            raise DataError("cannot train SentencePiece: the training sentences are all empty")

        buffer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=buffer,
                vocab_size=vocab_size,
                model_type=model_type,
                pad_id=PAD_ID,
                unk_id=UNK_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
                pad_piece="<pad>",
                unk_piece="<unk>",
                bos_piece="<bos>",
                eos_piece="<eos>",
                num_threads=_SPM_THREADS,
                minloglevel=2,
            )
        except RuntimeError as e:
            raise DataError(_explain_spm_training_error(str(e), vocab_size, len(sentences))) from e
        return cls(buffer.getvalue())

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def tokenize(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def encode(self, text: str) -> list[int]:
        try:
            return self._sp.encode(text, out_type=int)
        except RuntimeError:
            # SentencePiece's binding cannot pass lone surrogates (text decoded with
            # errors="surrogateescape") to C++. They are not characters; encode them as U+FFFD,
            # which becomes the unknown id like any other unseen character.
            cleaned = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            return self._sp.encode(cleaned, out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode(specials_until_eos(ids, self.vocab_size))

    def save(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory)
        write_bytes(directory / SPM_MODEL_FILE, self._proto, make_parents=True)
        # The metadata last: a directory with it is complete.
        meta = {
            "type": "sentencepiece",
            "format_version": FORMAT_VERSION,
            "model_file": SPM_MODEL_FILE,
            "vocab_size": self.vocab_size,
        }
        write_meta(directory, meta)

    @classmethod
    def _load(cls, directory: Path, meta: dict[str, Any]) -> SentencePieceTokenizer:
        path = directory / SPM_MODEL_FILE
        try:
            proto = path.read_bytes()
        except OSError as e:
            raise CheckpointError(
                f"cannot read the SentencePiece model {path} ({e.strerror}); the tokenizer directory is "
                "incomplete, re-save the tokenizer"
            ) from e
        try:
            tokenizer = cls(proto)
        except ValueError as e:
            raise CheckpointError(f"{path} is corrupt ({e}); re-save the tokenizer") from e
        check_saved_size(path, tokenizer.vocab_size, meta, "pieces")
        return tokenizer

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(vocab_size={self.vocab_size})"


def _explain_spm_training_error(message: str, vocab_size: int, n_sentences: int) -> str:
    """Turn SentencePiece's internal check failure into a message that says what to do."""
    too_high = re.search(r"Please set it to a value <= (\d+)", message)
    if too_high:
        return (
            f"SentencePiece cannot make {vocab_size} pieces from {n_sentences} training sentences: "
            f"the corpus supports at most {too_high.group(1)}; set tokenizer vocab_size <= {too_high.group(1)}"
        )
    too_low = re.search(r"smaller than required_chars\. \d+ vs (\d+)", message)
    if too_low:
        return (
            f"SentencePiece vocab_size {vocab_size} is too small: the training text needs "
            f"{too_low.group(1)} pieces for its characters and specials; set tokenizer vocab_size >= "
            f"{too_low.group(1)}"
        )
    return f"SentencePiece training failed on {n_sentences} sentences: {message}"
