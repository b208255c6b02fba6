"""Tokenizers: text <-> integer ids, with a word vocabulary, a SentencePiece model or a Hugging Face
tokenizer (docs/tokenizers.md).

Every kind shares one small interface (:class:`Tokenizer`) and the same special ids, in this fixed order::

    pad = 0, unk = 1, bos = 2, eos = 3

``encode`` never adds ``bos``/``eos``; the batching code adds them. ``decode`` skips ``pad`` and ``bos``
and stops at the first ``eos``, so it can be given a raw decoder output row.

A tokenizer saves itself into a directory (``save(directory)``) as plain files:
``textvae_tokenizer.json`` (whose ``"type"`` field names the kind; older versions named it
``tokenizer.json``, which still loads), plus ``spm.model`` for SentencePiece or ``hf_tokenizer.json``
for a Hugging Face tokenizer. :func:`load_tokenizer` reads any kind back. Nothing is pickled.

The package, from the bottom up: :mod:`.base` (the interface, the special ids, the metadata file),
:mod:`.word` (:class:`WordTokenizer`), :mod:`.subword` (:class:`SentencePieceTokenizer`),
:mod:`.hf` (:class:`HFTokenizer`) and :mod:`.registry` (:func:`build_tokenizer` and
:func:`load_tokenizer`, by kind).
"""

from textvae.text.data.tokenizers.base import (
    BOS_ID,
    EOS_ID,
    FORMAT_VERSION,
    HF_TOKENIZER_FILE,
    LEGACY_TOKENIZER_FILE,
    PAD_ID,
    SPM_MODEL_FILE,
    TOKENIZER_FILE,
    UNK_ID,
    Tokenizer,
)
from textvae.text.data.tokenizers.hf import HFTokenizer
from textvae.text.data.tokenizers.registry import (
    build_tokenizer,
    load_tokenizer,
    tokenizer_fingerprint,
)
from textvae.text.data.tokenizers.subword import SentencePieceTokenizer
from textvae.text.data.tokenizers.word import WordTokenizer

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "FORMAT_VERSION",
    "HF_TOKENIZER_FILE",
    "LEGACY_TOKENIZER_FILE",
    "PAD_ID",
    "SPM_MODEL_FILE",
    "TOKENIZER_FILE",
    "UNK_ID",
    "HFTokenizer",
    "SentencePieceTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "build_tokenizer",
    "load_tokenizer",
    "tokenizer_fingerprint",
]
