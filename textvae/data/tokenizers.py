"""Tokenizers: text <-> integer ids, with a word vocabulary or a SentencePiece model.

Both kinds share one small interface (:class:`Tokenizer`) and the same special ids, in this fixed order::

    pad = 0, unk = 1, bos = 2, eos = 3

``encode`` never adds ``bos``/``eos``; the batching code adds them. ``decode`` skips ``pad`` and ``bos``
and stops at the first ``eos``, so it can be given a raw decoder output row.

A tokenizer saves itself into a directory (``save(directory)``) as plain files: ``tokenizer.json``
(whose ``"type"`` field names the kind) and, for SentencePiece, ``spm.model``. :func:`load_tokenizer`
reads any kind back. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from textvae.errors import CheckpointError, ConfigError, DataError

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
"""The special ids, identical for every tokenizer kind."""

TOKENIZER_FILE = "tokenizer.json"
SPM_MODEL_FILE = "spm.model"
FORMAT_VERSION = 1

# SentencePiece's trained model depends on its thread count, so it is fixed (not os.cpu_count())
# to make a tokenizer reproducible across machines.
_SPM_THREADS = 2


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


def _specials_until_eos(ids: Sequence[int], vocab_size: int) -> list[int]:
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


class _SharedSpecialIds:
    """Both tokenizer kinds put the specials at the same ids (pad 0, unk 1, bos 2, eos 3)."""

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


class WordTokenizer(_SharedSpecialIds):
    """A whitespace-split word vocabulary (``str.split``, no lower-casing or other normalization).

    Ids: the four specials (``pad``, ``unk``, ``bos``, ``eos`` = 0..3), then the data types by
    descending training frequency, ties broken alphabetically.

    A word in the text that equals the string of ``pad``, ``bos`` or ``eos`` (e.g. a literal ``<eos>``)
    is not one of those specials: it is excluded from the vocabulary and encodes to ``unk_id``, so text
    can never end a sequence or vanish on decoding. The unknown token is the exception when it is adopted
    from the data (see :meth:`build`).

    Args:
        tokens: the id -> string table; the first four entries are the pad, unk, bos and eos strings.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if len(tokens) < 4:
            raise ValueError(
                f"a word vocabulary needs the 4 special tokens first, got {len(tokens)}"
            )
        if not all(isinstance(t, str) for t in tokens):
            raise ValueError("every vocabulary entry must be a string")
        index = {t: i for i, t in enumerate(tokens)}
        if len(index) != len(tokens):
            dupes = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"duplicate vocabulary entries: {dupes[:5]}")
        self._tokens = tokens
        # Encoding table: the pad/bos/eos strings are not reachable from text (they map to unk).
        self._encode_index = dict(index)
        for special_id in (PAD_ID, BOS_ID, EOS_ID):
            del self._encode_index[tokens[special_id]]

    @classmethod
    def build(
        cls,
        sentences: Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        unk_token: str | None = None,
    ) -> WordTokenizer:
        """Count the words of ``sentences`` and build the vocabulary.

        Args:
            sentences: training sentences.
            min_freq: keep data types that occur at least this often.
            max_size: keep at most this many data types (the most frequent ones); ``None`` keeps all.
            unk_token: the corpus's own unknown-word token (``"<unk>"`` for Mikolov's PTB). If it occurs
                in the data it is adopted: it becomes ``unk_id``, is counted as one of the data types
                (towards ``max_size``) and is kept whatever its frequency. If it does not occur, it is
                added as the unknown special. ``None`` adds ``"<unk>"`` as a special.

        Returns:
            The tokenizer. Its size is 4 specials + data types, less one when the unknown token is
            adopted (PTB train: 9,999 types incl. ``<unk>`` + pad, bos, eos = 10,002 ids).

        Raises:
            ConfigError: ``min_freq`` < 1, ``max_size`` < 1, or ``unk_token`` names another special.
            DataError: ``sentences`` contain no words.
        """
        if min_freq < 1:
            raise ConfigError(f"tokenizer min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 1:
            raise ConfigError(f"tokenizer max_size must be >= 1 or null, got {max_size}")
        pad, bos, eos = "<pad>", "<bos>", "<eos>"
        unk = "<unk>" if unk_token is None else unk_token
        if unk in (pad, bos, eos) or not unk or unk != unk.strip() or len(unk.split()) != 1:
            raise ConfigError(
                f"tokenizer unk_token {unk_token!r} must be a single word other than {pad}, {bos}, {eos}"
            )

        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence.split())
        if not counts:
            raise DataError(
                "cannot build a word vocabulary: the training sentences contain no words"
            )

        adopted = unk_token is not None and unk_token in counts
        for special in (pad, unk, bos, eos):
            counts.pop(special, None)  # special strings in the data: excluded, they encode to unk
        ranked = sorted(
            (t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            ranked = ranked[: max_size - 1 if adopted else max_size]
        return cls([pad, unk, bos, eos, *ranked])

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def tokens(self) -> list[str]:
        """The id -> string table (a copy)."""
        return list(self._tokens)

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def encode(self, text: str) -> list[int]:
        get = self._encode_index.get
        return [get(word, UNK_ID) for word in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self._tokens[i] for i in _specials_until_eos(ids, len(self._tokens)))

    def save(self, directory: str | os.PathLike[str]) -> None:
        meta = {"type": "word", "format_version": FORMAT_VERSION, "tokens": self._tokens}
        _write_meta(Path(directory), meta)

    @classmethod
    def _load(cls, directory: Path, meta: dict[str, Any]) -> WordTokenizer:
        tokens = meta.get("tokens")
        if not isinstance(tokens, list):
            raise CheckpointError(
                f"{directory / TOKENIZER_FILE} has no 'tokens' list; the file is incomplete, re-save the tokenizer"
            )
        try:
            return cls(tokens)
        except ValueError as e:
            raise CheckpointError(
                f"{directory / TOKENIZER_FILE} is corrupt ({e}); re-save the tokenizer"
            ) from e

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"


class SentencePieceTokenizer(_SharedSpecialIds):
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
        return self._sp.decode(_specials_until_eos(ids, self.vocab_size))

    def save(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(directory / SPM_MODEL_FILE, self._proto)
        # tokenizer.json last: a directory with it is complete.
        meta = {
            "type": "sentencepiece",
            "format_version": FORMAT_VERSION,
            "model_file": SPM_MODEL_FILE,
            "vocab_size": self.vocab_size,
        }
        _write_meta(directory, meta)

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
        if meta.get("vocab_size", tokenizer.vocab_size) != tokenizer.vocab_size:
            raise CheckpointError(
                f"{path} has {tokenizer.vocab_size} pieces but {directory / TOKENIZER_FILE} says "
                f"{meta['vocab_size']}; the two files do not belong together, re-save the tokenizer"
            )
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


_LOADERS: dict[str, Callable[[Path, dict[str, Any]], Tokenizer]] = {
    "word": WordTokenizer._load,
    "sentencepiece": SentencePieceTokenizer._load,
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
    path = directory / TOKENIZER_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CheckpointError(
            f"{directory} has no {TOKENIZER_FILE}; it is not a saved tokenizer (or the save was interrupted)"
        ) from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"cannot read {path} ({e}); the file is corrupt, re-save the tokenizer"
        ) from e
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


def _build_word(sentences: list[str], **opts: Any) -> Tokenizer:
    return WordTokenizer.build(
        sentences, min_freq=opts["min_freq"], max_size=opts["max_size"], unk_token=opts["unk_token"]
    )


def _build_sentencepiece(sentences: list[str], **opts: Any) -> Tokenizer:
    if opts["vocab_size"] is None:
        raise ConfigError("tokenizer kind 'sentencepiece' needs tokenizer vocab_size (e.g. 8000)")
    return SentencePieceTokenizer.build(
        sentences, vocab_size=opts["vocab_size"], model_type=opts["model_type"]
    )


_BUILDERS: dict[str, Callable[..., Tokenizer]] = {
    "word": _build_word,
    "sentencepiece": _build_sentencepiece,
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
) -> Tokenizer:
    """Build a tokenizer of ``kind`` from training sentences.

    Args:
        kind: "word" or "sentencepiece".
        sentences: the training sentences.
        min_freq, max_size, unk_token: options of the "word" kind (see :meth:`WordTokenizer.build`).
        vocab_size, model_type: options of the "sentencepiece" kind (see
            :meth:`SentencePieceTokenizer.build`); ``vocab_size`` is required there.

    Options of the other kind are ignored, so one config section can hold both.

    Raises:
        ConfigError: unknown ``kind`` or invalid options.
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
    )


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(meta, ensure_ascii=False, indent=1) + "\n"
    _atomic_write(directory / TOKENIZER_FILE, text.encode("utf-8"))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(
            tmp, 0o644
        )  # mkstemp makes 0600 files; a checkpoint should be readable like any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
