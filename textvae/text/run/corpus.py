"""From a :class:`~textvae.text.run.config.DataConfig` to tokenized splits.

    sentences (text file | datasets | built-in grammar) -> tokenizer (fit on train) -> ids

The tokenizer is always fit on the training split only. ``max_len`` applies to the training split
(sentences longer than it are dropped or truncated, and counted); validation and test sentences
are never dropped, so evaluation always covers the whole split (CONVENTIONS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from textvae.core.checkpoint import resolve_checkpoint_dir
from textvae.core.errors import ConfigError, DataError
from textvae.core.files import write_text
from textvae.text.data.sources import SentenceList, apply_max_len, hold_out, read_hf, read_text_file
from textvae.text.data.tokenizers import Tokenizer, build_tokenizer, load_tokenizer
from textvae.text.run.config import Config, DataConfig

SPLITS = ("train", "valid", "test")


@lru_cache(maxsize=2)
def _grammar_texts(size: int, seed: int) -> dict[str, list[str]]:
    # Imported here: the grammar module is only needed for the built-in corpus.
    from textvae.text.data.grammar import grammar_splits

    splits = grammar_splits(size, seed, size_name="data.grammar_size")
    return {split: [s.text for s in sents] for split, sents in splits.items()}


def load_sentences(cfg: DataConfig, split: str) -> SentenceList:
    """Read one split (``train``, ``valid`` or ``test``) of the configured source."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if cfg.source == "grammar":
        texts = _grammar_texts(cfg.grammar_size, cfg.grammar_seed)[split]
        return SentenceList(sentences=list(texts), blank_lines=0, source=f"grammar:{split}")
    path = getattr(cfg, f"{split}_path")
    if cfg.source == "text":
        if split != "test" and cfg.valid_path is None and cfg.valid_fraction is not None:
            train = _required_path(cfg.train_path, "train")
            parts = hold_out(read_text_file(train), cfg.valid_fraction, cfg.split_seed)
            return parts[SPLITS.index(split)]
        return read_text_file(_required_path(path, split))
    if path is not None and Path(path).is_file():  # a local copy of the hub corpus
        return read_text_file(path)
    if cfg.hf_name is None:  # DataConfig refuses this; a config changed after it was checked
        raise ConfigError("data.source is 'hf' but data.hf_name is not set")
    hf_split = cfg.hf_splits.get(split, split)
    data_files: dict[str, str | list[str]] | None = None
    if cfg.hf_data_files is not None:
        if hf_split not in cfg.hf_data_files:
            raise ConfigError(
                f"data.hf_data_files has no file for split '{hf_split}' "
                f"(has: {', '.join(cfg.hf_data_files)})"
            )
        data_files = {hf_split: cfg.hf_data_files[hf_split]}
    try:
        return read_hf(
            cfg.hf_name,
            config=cfg.hf_config,
            split=hf_split,
            text_column=cfg.text_column,
            data_files=data_files,
        )
    except DataError as err:
        if path is None:
            raise
        raise DataError(f"{err}; nor is there a local copy at data.{split}_path={path}") from None


def _required_path(path: str | None, split: str) -> str:
    """A text split's file, which must be set (``data.{split}_path``) when the split is read."""
    if path is None:
        hint = {"train": " (on the command line: --train FILE; from Python: train_sentences=)",
                "valid": " (or set data.valid_fraction to hold out part of train)"}.get(split, "")
        raise ConfigError(f"data.{split}_path is not set, but the {split} split is needed{hint}")
    return path


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
        tokenizer = fit_tokenizer(cfg, train.sentences, log)
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


def fit_tokenizer(cfg: DataConfig, sentences: list[str], log: Callable[[str], None] = print) -> Tokenizer:
    """The tokenizer ``cfg.tokenizer`` asks for, fit on ``sentences`` (the training split), or
    the one saved with the run ``cfg.tokenizer.from_run`` names (its ``best`` checkpoint, else
    ``last``), unchanged."""
    tok_cfg = cfg.tokenizer
    if tok_cfg.from_run is not None:
        tokenizer = saved_tokenizer(tok_cfg.from_run)
        log(f"tokenizer: the one saved with {tok_cfg.from_run}, {tokenizer.vocab_size} ids")
        return tokenizer
    tokenizer = build_tokenizer(
        tok_cfg.kind,
        sentences,
        min_freq=tok_cfg.min_freq,
        max_size=tok_cfg.max_size,
        unk_token=tok_cfg.unk_token,
        vocab_size=tok_cfg.vocab_size,
        model_type=tok_cfg.model_type,
        lowercase=tok_cfg.lowercase,
        split_punctuation=tok_cfg.split_punctuation,
        hf_tokenizer=tok_cfg.hf_tokenizer,
    )
    log(f"tokenizer: {tok_cfg.kind}, {tokenizer.vocab_size} ids")
    return tokenizer


def with_absolute_paths(cfg: DataConfig) -> DataConfig:
    """The data config with its local file paths made absolute, so that the config a checkpoint
    saves still finds its data when the model is used from another folder."""
    def absolute(path: str) -> str:
        return str(Path(path).resolve()) if Path(path).exists() else path

    def optional(path: str | None) -> str | None:
        return None if path is None else absolute(path)

    files = cfg.hf_data_files
    if files is not None:
        files = {split: absolute(path) for split, path in files.items()}
    tokenizer = replace(cfg.tokenizer, from_run=optional(cfg.tokenizer.from_run))
    return replace(cfg, train_path=optional(cfg.train_path), valid_path=optional(cfg.valid_path),
                   test_path=optional(cfg.test_path), hf_data_files=files, tokenizer=tokenizer)


def saved_tokenizer(run: str | Path) -> Tokenizer:
    """The tokenizer saved with a run directory (its ``best`` checkpoint, else ``last``) or a
    checkpoint directory, read alone (no weights).

    Raises:
        CheckpointError: no checkpoint there, or no readable tokenizer in it.
    """
    return load_tokenizer(resolve_checkpoint_dir(run) / "tokenizer")


def given_sentences(config: Config, train_sentences: Any, valid_sentences: Any) -> Config:
    """Write sentences given in memory into the run directory and point the config at them."""
    folder = Path(config.train.out_dir) / "data"
    written: dict[str, str] = {}  # split -> the file written
    for split, given in (("train", train_sentences), ("valid", valid_sentences)):
        if given is None:
            continue
        lines = _sentence_lines(given, config.data.text_column, split)
        written[split] = str(write_text(folder / f"{split}.txt", "".join(f"{x}\n" for x in lines),
                                        make_parents=True))
    fraction = config.data.valid_fraction
    if valid_sentences is None and fraction is None:
        fraction = 0.1
    valid_path: str | None = None
    test_path: str | None = None
    if config.data.source == "text":  # files the config names still count
        valid_path, test_path = config.data.valid_path, config.data.test_path
        if valid_sentences is None and config.data.valid_path is not None:
            fraction = config.data.valid_fraction
    data = replace(config.data, source="text", valid_fraction=fraction,
                   train_path=written.get("train", config.data.train_path),
                   valid_path=written.get("valid", valid_path), test_path=test_path)
    return replace(config, data=data)


def _sentence_lines(given: Any, column: str, split: str) -> list[str]:
    """Sentences as one-line strings, from a list of strings or a ``datasets.Dataset``."""
    if hasattr(given, "column_names"):  # a datasets.Dataset: take its text column
        if column not in given.column_names:
            raise DataError(f"{split}_sentences has no column {column!r} (has "
                            f"{', '.join(given.column_names)}); set data.text_column")
        given = given[column]
    if isinstance(given, str):
        raise DataError(f"{split}_sentences must be a list of sentences, not one string")
    lines = []
    for i, text in enumerate(given):
        if not isinstance(text, str):
            raise DataError(f"{split}_sentences[{i}] is {type(text).__name__}, not a string")
        line = " ".join(text.split())  # a sentence is one line in the run's text file
        if line:
            lines.append(line)
    if not lines:
        raise DataError(f"{split}_sentences holds no sentences")
    return lines
