"""From a :class:`~textvae.config.DataConfig` to tokenized splits.

    sentences (text file | datasets | built-in grammar) -> tokenizer (fit on train) -> ids

The tokenizer is always fit on the training split only. ``max_len`` applies to the training split
(sentences longer than it are dropped or truncated, and counted); validation and test sentences
are never dropped, so evaluation always covers the whole split (CONVENTIONS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from textvae.config import DataConfig
from textvae.data.sources import SentenceList, apply_max_len, read_hf, read_text_file
from textvae.data.tokenizers import Tokenizer, build_tokenizer
from textvae.errors import ConfigError

SPLITS = ("train", "valid", "test")


@lru_cache(maxsize=2)
def _grammar_texts(size: int, seed: int) -> dict[str, list[str]]:
    # Imported here: the grammar module is only needed for the built-in corpus.
    from textvae.data.grammar import grammar_splits

    return {split: [s.text for s in sents] for split, sents in grammar_splits(size, seed).items()}


def load_sentences(cfg: DataConfig, split: str) -> SentenceList:
    """Read one split (``train``, ``valid`` or ``test``) of the configured source."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if cfg.source == "grammar":
        texts = _grammar_texts(cfg.grammar_size, cfg.grammar_seed)[split]
        return SentenceList(sentences=list(texts), blank_lines=0, source=f"grammar:{split}")
    if cfg.source == "text":
        path = getattr(cfg, f"{split}_path")
        if path is None:
            raise ConfigError(f"data.{split}_path is not set, but the {split} split is needed")
        return read_text_file(path)
    hf_split = cfg.hf_splits.get(split, split)
    data_files = None
    if cfg.hf_data_files is not None:
        if hf_split not in cfg.hf_data_files:
            raise ConfigError(
                f"data.hf_data_files has no file for split '{hf_split}' "
                f"(has: {', '.join(cfg.hf_data_files)})"
            )
        data_files = {hf_split: cfg.hf_data_files[hf_split]}
    return read_hf(
        cfg.hf_name,
        config=cfg.hf_config,
        split=hf_split,
        text_column=cfg.text_column,
        data_files=data_files,
    )


@dataclass
class Corpus:
    """Tokenized splits and the tokenizer that made them.

    ``sentences`` holds each split's text as read; ``ids`` the token ids after the training
    split's ``max_len`` filter, so for train the two may differ in length.
    """

    tokenizer: Tokenizer
    ids: dict[str, list[list[int]]] = field(default_factory=dict)
    sentences: dict[str, list[str]] = field(default_factory=dict)


def build_corpus(
    cfg: DataConfig,
    *,
    tokenizer: Tokenizer | None = None,
    splits: tuple[str, ...] = SPLITS,
    log: Callable[[str], None] = print,
) -> Corpus:
    """Read, tokenize and length-filter the requested splits.

    Args:
        cfg: the data config.
        tokenizer: an existing tokenizer (from a checkpoint); when None one is fit on train.
        splits: which splits to load.
        log: where one-line summaries go (counts of blank lines and long sentences).
    """
    if tokenizer is None:
        train = load_sentences(cfg, "train")
        tok_cfg = cfg.tokenizer
        tokenizer = build_tokenizer(
            tok_cfg.kind,
            train.sentences,
            min_freq=tok_cfg.min_freq,
            max_size=tok_cfg.max_size,
            unk_token=tok_cfg.unk_token,
            vocab_size=tok_cfg.vocab_size,
            model_type=tok_cfg.model_type,
        )
        log(f"tokenizer: {tok_cfg.kind}, {tokenizer.vocab_size} ids")
        loaded = {"train": train}
    else:
        loaded = {}
    corpus = Corpus(tokenizer=tokenizer)
    for split in splits:
        sents = loaded.get(split) or load_sentences(cfg, split)
        ids = [tokenizer.encode(s) for s in sents.sentences]
        note = f"{split}: {len(ids)} sentences from {sents.source}"
        if sents.blank_lines:
            note += f", {sents.blank_lines} blank lines skipped"
        if split == "train" and cfg.max_len is not None:
            ids, affected = apply_max_len(ids, cfg.max_len, cfg.long_sentences)
            verb = "dropped" if cfg.long_sentences == "drop" else "truncated"
            note += f", {affected} longer than {cfg.max_len} tokens {verb}"
        log(note)
        corpus.ids[split] = ids
        corpus.sentences[split] = sents.sentences
    return corpus
