"""The word tokenizer: a whitespace-split vocabulary of the training text's word types."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from textvae.data.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    FORMAT_VERSION,
    PAD_ID,
    TOKENIZER_FILE,
    UNK_ID,
    SharedSpecialIds,
    specials_until_eos,
    write_meta,
)
from textvae.errors import CheckpointError, ConfigError, DataError


class WordTokenizer(SharedSpecialIds):
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
        return " ".join(self._tokens[i] for i in specials_until_eos(ids, len(self._tokens)))

    def save(self, directory: str | os.PathLike[str]) -> None:
        meta = {"type": "word", "format_version": FORMAT_VERSION, "tokens": self._tokens}
        write_meta(Path(directory), meta)

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
