"""A Hugging Face ``tokenizers`` tokenizer as a textvae tokenizer (kind ``hf``).

For users who already have a tokenizer fit to their text: it is loaded, never trained on the
corpus. It needs the optional ``tokenizers`` package (``pip install "textvae[hf]"``).

**Ids.** textvae puts pad, unk, bos and eos at ids 0..3 for every kind, so the Hugging Face (HF)
ids are permuted into textvae ids:

1. Each special is looked up in the HF vocabulary (added tokens included), first match wins:
   unk is the HF model's own unknown token if it has one, else one of :data:`SPECIAL_CANDIDATES`;
   pad, bos and eos come from :data:`SPECIAL_CANDIDATES` (BERT's ``[CLS]``/``[SEP]`` serve as
   bos/eos, GPT-2's ``<|endoftext|>`` as eos).
2. A special the vocabulary lacks is appended after it, in the order pad, unk, bos, eos, as
   ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``, at ids ``n``, ``n + 1``, ... (``n`` = one more than
   the largest HF id). These exist only in textvae's id space; the HF tokenizer is not changed.
3. Starting from textvae id = HF id, each special, in the order pad, unk, bos, eos, swaps ids with
   whatever holds its target (0, 1, 2, 3). A vocabulary that already has them at 0..3 in that
   order (as a BERT-style ``[PAD] [UNK] [CLS] [SEP]`` one trained with those specials first) keeps
   its ids unchanged.

``vocab_size`` is ``n`` plus the appended specials. The mapping is saved with the tokenizer (the
specials' strings and HF ids), so a later textvae with other candidates loads the same ids.

**Encoding** is the HF ``encode(text, add_special_tokens=False)`` (no ``[CLS]``/``[SEP]`` template:
textvae's batching adds bos/eos), with any padding or truncation in the file switched off. As for
the word kind, text that the HF tokenizer turns into its pad, bos or eos token (a literal ``[SEP]``)
encodes to ``unk``, so text can never end a sequence. **Decoding** drops pad and bos, stops at the
first eos and HF-decodes the rest with ``skip_special_tokens=False``; an appended ``<unk>`` (for a
vocabulary without one) decodes as ``<unk>``, joined to the text around it by spaces.

**Saved files**: ``hf_tokenizer.json`` (a verbatim copy of the HF ``tokenizer.json``) and the
metadata file, so a checkpoint needs nothing outside its directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textvae.core.errors import CheckpointError, ConfigError
from textvae.core.files import write_bytes
from textvae.text.data.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    FORMAT_VERSION,
    HF_TOKENIZER_FILE,
    PAD_ID,
    UNK_ID,
    SharedSpecialIds,
    check_saved_size,
    specials_until_eos,
    write_meta,
)

ROLES = ("pad", "unk", "bos", "eos")
_TARGET_IDS = {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID}

SPECIAL_CANDIDATES: dict[str, tuple[str, ...]] = {
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    "unk": ("<unk>", "[UNK]", "<|unk|>", "<|unknown|>"),
    "bos": ("<s>", "<bos>", "[BOS]", "[CLS]", "<|startoftext|>", "<|begin_of_text|>", "<|bos|>"),
    "eos": ("</s>", "<eos>", "[EOS]", "[SEP]", "<|endoftext|>", "<|end_of_text|>", "<|eos|>"),
}
"""The HF token strings taken as each special, in order of preference."""

_APPENDED_STRINGS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"}

Specials = dict[str, tuple[str, int | None]]
"""role -> (token string, its HF id, or None when appended after the HF vocabulary)."""


def _import_tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as e:
        raise ConfigError(
            'tokenizer kind "hf" needs the Hugging Face tokenizers package: pip install "textvae[hf]"'
        ) from e
    return tokenizers


class HFTokenizer(SharedSpecialIds):
    """A fit Hugging Face tokenizer, its ids permuted so the specials sit at 0..3 (module docstring).

    Args:
        tokenizer_json: the text of a Hugging Face ``tokenizer.json``.
        specials: the mapping from a saved tokenizer; ``None`` finds the specials in the vocabulary.
        source: where the tokenizer came from (a path or hub name), kept in the saved metadata.

    Raises:
        ConfigError: the ``tokenizers`` package is not installed.
        ValueError: the text is not a usable tokenizer, or ``specials`` do not fit it.
    """

    def __init__(
        self,
        tokenizer_json: str,
        *,
        specials: Mapping[str, tuple[str, int | None]] | None = None,
        source: str | None = None,
    ) -> None:
        tokenizers = _import_tokenizers()
        try:
            hf = tokenizers.Tokenizer.from_str(tokenizer_json)
        except Exception as e:  # the Rust binding raises a bare Exception for any parse error
            raise ValueError(f"not a Hugging Face tokenizer.json: {e}") from e
        hf.no_padding()
        hf.no_truncation()
        vocab = hf.get_vocab(with_added_tokens=True)
        if not vocab:
            raise ValueError("the Hugging Face tokenizer has an empty vocabulary")
        n_hf = max(vocab.values()) + 1
        specials = _find_specials(hf, tokenizer_json) if specials is None else dict(specials)
        _check_specials(hf, specials)

        # Appended specials take the HF-side ids n_hf, n_hf + 1, ... in role order.
        sources: dict[str, int] = {}
        size = n_hf
        for role in ROLES:
            hf_id = specials[role][1]
            sources[role], size = (size, size + 1) if hf_id is None else (hf_id, size)
        # Swap each special into its target id; a later swap never moves an earlier special,
        # because the specials' HF ids are distinct.
        tv_of, hf_of = list(range(size)), list(range(size))
        for role in ROLES:
            src, target = sources[role], _TARGET_IDS[role]
            old_tv, displaced = tv_of[src], hf_of[target]
            tv_of[src], tv_of[displaced] = target, old_tv
            hf_of[target], hf_of[old_tv] = src, displaced

        encode_table = tv_of[:n_hf]
        for role in ("pad", "bos", "eos"):  # from text these are unknown words, as for "word"
            if sources[role] < n_hf:
                encode_table[sources[role]] = UNK_ID
        self._hf = hf
        self._json = tokenizer_json
        self._source = source
        self._specials: Specials = specials
        self._n_hf = n_hf
        self._encode_table = encode_table
        self._hf_of = hf_of
        self._appended_text = {sources[r]: specials[r][0] for r in ROLES if sources[r] >= n_hf}

    @classmethod
    def from_source(cls, source: str) -> HFTokenizer:
        """Load a fit tokenizer: a ``tokenizer.json`` file, a directory holding one, or a hub name.

        Raises:
            ConfigError: ``tokenizers`` is not installed; the file is missing or not a tokenizer;
                the name is neither a local path nor a tokenizer the hub can give.
        """
        tokenizers = _import_tokenizers()
        what = (
            "data.tokenizer.hf_tokenizer must name a Hugging Face tokenizer.json file, a directory "
            "holding one, or a hub name"
        )
        path = Path(source).expanduser()
        if path.is_dir():
            path = path / "tokenizer.json"
            if not path.is_file():
                raise ConfigError(f"{source} holds no tokenizer.json; {what}")
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise ConfigError(f"cannot read the Hugging Face tokenizer {path} ({e})") from e
        elif source.endswith(".json") or source.startswith((".", "/", "~")) or "\\" in source:
            raise ConfigError(f"Hugging Face tokenizer file {source} not found; {what}")
        else:
            try:
                text = tokenizers.Tokenizer.from_pretrained(source).to_str()
            except Exception as e:  # network, hub and parse errors all arrive as bare Exceptions
                raise ConfigError(
                    f"Hugging Face tokenizer {source!r} is no local file or directory, and the hub "
                    f"did not give it ({e}); {what}"
                ) from e
        try:
            return cls(text, source=source)
        except ValueError as e:
            raise ConfigError(f"Hugging Face tokenizer {source} is not usable: {e}") from e

    @property
    def vocab_size(self) -> int:
        return len(self._hf_of)

    @property
    def specials(self) -> Specials:
        """role -> (token string, HF id or None when appended); a copy."""
        return dict(self._specials)

    def _hf_encode(self, text: str) -> Any:
        try:
            return self._hf.encode(text, add_special_tokens=False)
        except TypeError:
            # Lone surrogates (text decoded with errors="surrogateescape") cannot cross into Rust;
            # they are not characters, so encode them as U+FFFD like SentencePiece does.
            cleaned = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            return self._hf.encode(cleaned, add_special_tokens=False)

    def tokenize(self, text: str) -> list[str]:
        return self._hf_encode(text).tokens

    def encode(self, text: str) -> list[int]:
        table = self._encode_table
        return [table[i] for i in self._hf_encode(text).ids]

    def decode(self, ids: Sequence[int]) -> str:
        pieces: list[str] = []
        run: list[int] = []  # consecutive HF ids, decoded together so the HF decoder joins them
        for i in specials_until_eos(ids, self.vocab_size):
            hf_id = self._hf_of[i]
            if hf_id < self._n_hf:
                run.append(hf_id)
                continue
            if run:
                pieces.append(self._hf.decode(run, skip_special_tokens=False))
                run = []
            pieces.append(self._appended_text[hf_id])
        if run:
            pieces.append(self._hf.decode(run, skip_special_tokens=False))
        return " ".join(p for p in pieces if p)

    def save(self, directory: str | os.PathLike[str]) -> None:
        directory = Path(directory)
        write_bytes(directory / HF_TOKENIZER_FILE, self._json.encode("utf-8"), make_parents=True)
        meta = {
            "type": "hf",
            "format_version": FORMAT_VERSION,
            "hf_file": HF_TOKENIZER_FILE,
            "source": self._source,
            "vocab_size": self.vocab_size,
            "specials": {r: {"token": t, "hf_id": i} for r, (t, i) in self._specials.items()},
        }
        write_meta(directory, meta)  # last: a directory with it is complete

    @classmethod
    def _load(cls, directory: Path, meta: dict[str, Any]) -> HFTokenizer:
        path = directory / HF_TOKENIZER_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CheckpointError(
                f"cannot read the Hugging Face tokenizer {path} ({e}); the tokenizer directory is "
                "incomplete, re-save the tokenizer"
            ) from e
        saved = meta.get("specials")
        if not isinstance(saved, dict) or not all(
            isinstance(saved.get(r), dict) for r in ROLES
        ):
            raise CheckpointError(
                f"the tokenizer saved in {directory} has no 'specials' for pad, unk, bos and eos; "
                "re-save the tokenizer"
            )
        specials = {r: (saved[r].get("token"), saved[r].get("hf_id")) for r in ROLES}
        source = meta.get("source")
        try:
            tokenizer = cls(
                text, specials=specials, source=source if isinstance(source, str) else None
            )
        except ValueError as e:
            raise CheckpointError(f"{path} is corrupt ({e}); re-save the tokenizer") from e
        check_saved_size(path, tokenizer.vocab_size, meta, "ids")
        return tokenizer

    def __repr__(self) -> str:
        return f"HFTokenizer(vocab_size={self.vocab_size}, source={self._source!r})"


def _find_specials(hf: Any, tokenizer_json: str) -> Specials:
    """Each special's HF token (first candidate present, ids distinct) or an appended string."""
    candidates = {role: list(SPECIAL_CANDIDATES[role]) for role in ROLES}
    model = json.loads(tokenizer_json).get("model") or {}
    own_unk = model.get("unk_token")  # WordLevel, WordPiece, BPE
    if own_unk is None and isinstance(model.get("unk_id"), int):  # Unigram
        own_unk = hf.id_to_token(model["unk_id"])
    if isinstance(own_unk, str):
        candidates["unk"].insert(0, own_unk)
    found: Specials = {}
    taken: set[int] = set()
    for role in ROLES:
        found[role] = (_APPENDED_STRINGS[role], None)
        for token in candidates[role]:
            hf_id = hf.token_to_id(token)
            if hf_id is not None and hf_id not in taken:
                found[role] = (token, hf_id)
                taken.add(hf_id)
                break
    return found


def _check_specials(hf: Any, specials: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``specials`` maps every role to a token and its HF id (or None)."""
    ids = []
    for role in ROLES:
        entry = specials.get(role)
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ValueError(f"special {role!r} must be (token, HF id or None), got {entry!r}")
        token, hf_id = entry
        if hf_id is None:
            continue
        if type(hf_id) is not int or hf.token_to_id(token) != hf_id:
            raise ValueError(
                f"special {role} is {token!r} at HF id {hf_id!r}, but the tokenizer has it at "
                f"{hf.token_to_id(token)!r}"
            )
        ids.append(hf_id)
    if len(set(ids)) != len(ids):
        raise ValueError(f"two specials share one HF id: {specials!r}")
