"""The word tokenizer: a vocabulary of the training text's word types.

Text becomes words in up to three steps; the two options are off by default, which is a bare
whitespace split (right for pre-tokenized corpora such as Mikolov's PTB):

1. ``lowercase``: ``str.lower()`` the text.
2. ``split_punctuation``: cut punctuation off words (see :func:`punctuation_pattern`), so raw text
   such as ``"Hi," she said.`` gives ``" Hi , " she said .``. Otherwise ``str.split()``.
3. Look each word up; a word outside the vocabulary is ``unk``.

Decoding joins the words with single spaces; punctuation is not attached back, so
``decode(encode(s)) == " ".join(tokenize(s))`` when every word of ``s`` is in the vocabulary.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from textvae.core.errors import CheckpointError, ConfigError, DataError
from textvae.text.data.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    FORMAT_VERSION,
    PAD_ID,
    UNK_ID,
    SharedSpecialIds,
    specials_until_eos,
    write_meta,
)


@functools.cache
def _combining_marks() -> str:
    """Every combining mark (Unicode categories Mn, Mc, Me) as the body of a regex class.

    ``\\w`` leaves marks out, so without them a Devanagari vowel sign, a decomposed accent or the
    dot that ``"İ".lower()`` adds would cut a word in two. Built once, on first use. Unicode puts
    marks only in planes 0, 1 and 14 (planes 2-3 hold ideographs, 4-13 nothing), so only those are
    scanned: 0.04 s instead of 0.3 s for all 1.1M code points, on every process that loads such
    a tokenizer.
    """
    ranges: list[list[int]] = []
    for code in itertools.chain(range(0x20000), range(0xE0000, 0xF0000)):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(rf"\U{a:08x}-\U{b:08x}" for a, b in ranges)


@functools.lru_cache(maxsize=8)
def punctuation_pattern(unk: str) -> re.Pattern[str]:
    """The regex that ``split_punctuation`` finds words with, tried left to right at each position.

    1. the unknown token ``unk``, whole: ``<unk>,`` -> ``<unk> ,``, not ``< unk > ,`` (an end of it
       that is a word character must not touch another: ``UNK`` is not found in ``UNKNOWN``);
    2. a number with decimal or group separators between digits: ``3.5``, ``1,000``, ``10.0.1``;
    3. a word (letters, digits, ``_``, and combining marks after them), with apostrophes or
       hyphens *inside* it kept: ``don't``, ``O'Brien``, ``well-known``, ``3rd``; a leading or
       trailing one is cut off: ``'tis`` -> ``' tis``, ``dogs'`` -> ``dogs '``;
    4. a run of one other character (punctuation, a symbol, a stray combining mark): ``.``, ``...``,
       ``--``, ``!!``; ``?!`` is ``? !``.

    Every character other than whitespace lands in exactly one word, so nothing is dropped.
    Abbreviations are cut like any word: ``U.S.`` -> ``U . S .``.
    """
    # A word is word characters with combining marks among them; the lookahead keeps the marks
    # class (hundreds of ranges, slow to test) off ASCII text, which halves the time on English.
    marks = _combining_marks()
    word = rf"\w+(?:(?=[^\x00-\x7f])[{marks}]+\w*)*"
    before = r"(?<!\w)" if re.match(r"\w", unk[:1]) else ""
    after = r"(?!\w)" if re.match(r"\w", unk[-1:]) else ""
    return re.compile(
        rf"{before}{re.escape(unk)}{after}"
        rf"|\d+(?:[.,]\d+)+"
        rf"|{word}(?:['\u2019\-]{word})*"
        rf"|([^\w\s])\1*"
    )


def _check_options(unk: str, lowercase: Any, split_punctuation: Any) -> str | None:
    """Why these word options cannot go together, or None when they can."""
    if not isinstance(lowercase, bool) or not isinstance(split_punctuation, bool):
        return f"lowercase and split_punctuation must be true/false, got {lowercase!r}, {split_punctuation!r}"
    if lowercase and unk != unk.lower():
        return (
            f"unk_token {unk!r} must be lower case with lowercase: true (the text is lower-cased "
            "before words are looked up)"
        )
    return None


class WordTokenizer(SharedSpecialIds):
    """A word vocabulary: words from a whitespace split, optionally lower-cased and with
    punctuation cut off (see the module docstring).

    Ids: the four specials (``pad``, ``unk``, ``bos``, ``eos`` = 0..3), then the data types by
    descending training frequency, ties broken alphabetically.

    A word in the text that equals the string of ``pad``, ``bos`` or ``eos`` (e.g. a literal ``<eos>``)
    is not one of those specials: it is excluded from the vocabulary and encodes to ``unk_id``, so text
    can never end a sequence or vanish on decoding. The unknown token is the exception when it is adopted
    from the data (see :meth:`build`).

    Args:
        tokens: the id -> string table; the first four entries are the pad, unk, bos and eos strings.
        lowercase: lower-case the text before splitting it.
        split_punctuation: cut punctuation off words (:func:`punctuation_pattern`) instead of a
            bare ``str.split()``.
    """

    def __init__(
        self, tokens: Sequence[str], *, lowercase: bool = False, split_punctuation: bool = False
    ) -> None:
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
        problem = _check_options(tokens[UNK_ID], lowercase, split_punctuation)
        if problem:
            raise ValueError(problem)
        self._tokens = tokens
        self._lowercase, self._split_punctuation = lowercase, split_punctuation
        self._pattern = punctuation_pattern(tokens[UNK_ID]) if split_punctuation else None
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
        lowercase: bool = False,
        split_punctuation: bool = False,
    ) -> WordTokenizer:
        """Count the words of ``sentences`` and build the vocabulary.

        Args:
            sentences: training sentences.
            min_freq: keep data types that occur at least this often.
            max_size: keep at most this many data types (the most frequent ones); ``None`` keeps all.
            unk_token: the corpus's own unknown-word token (``"<unk>"`` for Mikolov's PTB). If it occurs
                in the data it is adopted: it becomes ``unk_id``, is counted as one of the data types
                (towards ``max_size``) and is kept whatever its frequency. If it does not occur, it is
                added as the unknown special. ``None`` adds ``"<unk>"`` as a special. With
                ``lowercase`` it must be lower case; ``split_punctuation`` never cuts it.
            lowercase: lower-case the text before counting and looking up words.
            split_punctuation: cut punctuation off words (:func:`punctuation_pattern`).

        Returns:
            The tokenizer. Its size is 4 specials + data types, less one when the unknown token is
            adopted (PTB train: 9,999 types incl. ``<unk>`` + pad, bos, eos = 10,002 ids).

        Raises:
            ConfigError: ``min_freq`` < 1, ``max_size`` < 1, ``unk_token`` names another special or
                is not lower case with ``lowercase``.
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
        problem = _check_options(unk, lowercase, split_punctuation)
        if problem:
            raise ConfigError(f"tokenizer {problem}")

        # The specials alone: a tokenizer that splits text as the built one will.
        split = cls([pad, unk, bos, eos], lowercase=lowercase, split_punctuation=split_punctuation)
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(split.tokenize(sentence))
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
        return cls(
            [pad, unk, bos, eos, *ranked], lowercase=lowercase, split_punctuation=split_punctuation
        )

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def tokens(self) -> list[str]:
        """The id -> string table (a copy)."""
        return list(self._tokens)

    @property
    def lowercase(self) -> bool:
        return self._lowercase

    @property
    def split_punctuation(self) -> bool:
        return self._split_punctuation

    def tokenize(self, text: str) -> list[str]:
        if self._lowercase:
            text = text.lower()
        if self._pattern is None:
            return text.split()
        return [m.group() for m in self._pattern.finditer(text)]

    def encode(self, text: str) -> list[int]:
        get = self._encode_index.get
        return [get(word, UNK_ID) for word in self.tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self._tokens[i] for i in specials_until_eos(ids, len(self._tokens)))

    def save(self, directory: str | os.PathLike[str]) -> None:
        meta = {
            "type": "word",
            "format_version": FORMAT_VERSION,
            "lowercase": self._lowercase,
            "split_punctuation": self._split_punctuation,
            "tokens": self._tokens,
        }
        write_meta(Path(directory), meta)

    @classmethod
    def _load(cls, directory: Path, meta: dict[str, Any]) -> WordTokenizer:
        tokens = meta.get("tokens")
        if not isinstance(tokens, list):
            raise CheckpointError(
                f"the tokenizer saved in {directory} has no 'tokens' list; the file is incomplete, "
                "re-save the tokenizer"
            )
        try:
            # Tokenizers saved before the options existed split on whitespace only.
            return cls(
                tokens,
                lowercase=meta.get("lowercase", False),
                split_punctuation=meta.get("split_punctuation", False),
            )
        except ValueError as e:
            raise CheckpointError(
                f"the tokenizer saved in {directory} is corrupt ({e}); re-save the tokenizer"
            ) from e

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(vocab_size={self.vocab_size}, lowercase={self._lowercase}, "
            f"split_punctuation={self._split_punctuation})"
        )
