"""Typed configs: dataclasses for data, model and training; YAML loading; dotted overrides.

A config file is YAML with up to three sections, ``data``, ``model`` and ``train``, whose keys are
the fields of :class:`DataConfig`, :class:`~textvae.models.sentence_vae.ModelConfig` and
:class:`TrainConfig`. Anything missing takes its default. ``--set a.b=value`` overrides one key;
the value is parsed as YAML (``--set train.lr=3e-4``, ``--set data.max_len=null``).

Validation is strict, because a typo that silently falls back to a default wastes a training run:
an unknown key, a wrong type or an invalid choice raises :class:`~textvae.errors.ConfigError`
whose message names the key and the valid keys or choices.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from textvae.errors import ConfigError
from textvae.models.sentence_vae import ModelConfig


@dataclass
class TokenizerConfig:
    """How sentences become ids. ``word``: whitespace-split vocabulary built from the training
    split. ``sentencepiece``: a unigram or BPE model trained on the training split."""

    kind: Literal["word", "sentencepiece"] = "word"
    min_freq: int = 1
    max_size: int | None = None
    # A token already in the data to adopt as the unknown token ("<unk>" in Mikolov's PTB).
    unk_token: str | None = None
    # SentencePiece only.
    vocab_size: int = 8000
    model_type: Literal["unigram", "bpe"] = "unigram"

    def __post_init__(self) -> None:
        _check_positive(self, "tokenizer", "min_freq", "vocab_size")
        if self.max_size is not None and self.max_size <= 0:
            raise ConfigError(f"data.tokenizer.max_size must be positive or null, got {self.max_size}")


@dataclass
class DataConfig:
    """Where sentences come from and how they are cut.

    ``source``:
      - ``grammar``: textvae's built-in grammar corpus, generated in memory from
        ``grammar_size`` and ``grammar_seed`` (no download);
      - ``text``: local text files, one sentence per line (``train_path``, ``valid_path``,
        ``test_path``);
      - ``hf``: Hugging Face ``datasets``: ``hf_name`` is a hub name (with ``hf_config``), or a
        builder for local files (``text``, ``json``, ``csv``, ``parquet``) with
        ``hf_data_files`` mapping split names to files. ``hf_splits`` maps textvae's splits
        (train, valid, test) to the dataset's split names.
    """

    source: Literal["grammar", "text", "hf"] = "grammar"
    grammar_size: int = 50000
    grammar_seed: int = 0
    train_path: str | None = None
    valid_path: str | None = None
    test_path: str | None = None
    hf_name: str | None = None
    hf_config: str | None = None
    hf_data_files: dict[str, str] | None = None
    hf_splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "valid": "validation", "test": "test"}
    )
    text_column: str = "text"
    # Longest training sentence in tokens (words, not counting the end token); longer ones are
    # dropped or truncated and counted. Validation and test sentences are never dropped.
    max_len: int | None = 64
    long_sentences: Literal["drop", "truncate"] = "drop"
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        _check_positive(self, "data", "grammar_size")
        if self.max_len is not None and self.max_len <= 0:
            raise ConfigError(f"data.max_len must be positive or null, got {self.max_len}")
        if self.source == "text" and self.train_path is None:
            raise ConfigError("data.source is 'text' but data.train_path is not set")
        if self.source == "hf" and self.hf_name is None:
            raise ConfigError("data.source is 'hf' but data.hf_name is not set")


@dataclass
class KLScheduleConfig:
    """The KL weight as a function of the training step (see :mod:`textvae.objectives`).

    - ``constant``: ``max_weight`` throughout;
    - ``linear``: 0 rising to ``max_weight`` over ``warmup_steps``;
    - ``logistic`` (Bowman et al. 2016): ``max_weight / (1 + exp(-k (step - x0)))``;
    - ``cyclical`` (Fu et al. 2019): ``n_cycles`` cycles over ``total_steps``; in each, the
      weight rises linearly for the first ``ratio`` of the cycle, then holds at ``max_weight``.
    """

    kind: Literal["constant", "linear", "logistic", "cyclical"] = "logistic"
    max_weight: float = 1.0
    warmup_steps: int = 10000
    k: float = 0.0025
    x0: int = 2500
    n_cycles: int = 4
    ratio: float = 0.5
    total_steps: int = 40000

    def __post_init__(self) -> None:
        _check_positive(self, "train.kl", "warmup_steps", "n_cycles", "total_steps")
        if self.max_weight < 0:
            raise ConfigError(f"train.kl.max_weight must be >= 0, got {self.max_weight}")
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"train.kl.ratio must be in (0, 1], got {self.ratio}")


@dataclass
class TrainConfig:
    """Optimisation, the VAE objective's knobs, evaluation and checkpointing."""

    out_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    epochs: int = 10
    max_steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 32
    bucketed: bool = True
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    grad_clip: float | None = 5.0
    # ReduceLROnPlateau on the validation score: multiply the LR by lr_decay after lr_patience
    # validations without improvement, down to min_lr. lr_patience: null keeps the LR constant.
    lr_decay: float = 0.5
    lr_patience: int | None = 2
    min_lr: float = 1e-5
    early_stop_patience: int | None = 5
    word_dropout: float = 0.0
    kl: KLScheduleConfig = field(default_factory=KLScheduleConfig)
    free_bits: float = 0.0
    free_bits_mode: Literal["dim", "total"] = "dim"
    eval_every: int | None = None
    checkpoint_every: int = 1000
    log_every: int = 50
    # A NaN or infinite training loss: "stop" ends the run with an error and keeps the last
    # checkpoint; "skip" drops that batch without an update and counts it (metrics.jsonl
    # "skipped_batches", and the trainer state, so the count survives a resume).
    nonfinite: Literal["stop", "skip"] = "stop"
    # torch.compile the training forward pass (dynamic shapes, since every bucket has its own
    # length). Off by default: on the CPU it measured 17% slower than eager (docs/performance.md),
    # and the first steps pay the compilation.
    compile: bool = False
    # Collapse remedies and warning (textvae/remedies.py). aggressive: He et al. 2019 inner
    # encoder-only updates, off once validation MI stops rising. pretrain_ae_steps: Li et al.
    # 2019, train as an autoencoder for this many steps, reset the decoder, then free bits.
    # collapse_warning: log once when validation KL < 0.1 nats (or 0 active units and KL < 1
    # nat) for collapse_patience validations in a row.
    aggressive: bool = False
    aggressive_max_inner: int = 100
    pretrain_ae_steps: int | None = None
    collapse_warning: bool = True
    collapse_patience: int = 3

    def __post_init__(self) -> None:
        _check_positive(self, "train", "epochs", "batch_size", "checkpoint_every", "log_every",
                        "aggressive_max_inner", "collapse_patience")
        for name in ("max_steps", "eval_every", "early_stop_patience", "pretrain_ae_steps",
                     "lr_patience"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"train.{name} must be positive or null, got {value}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if not 0.0 < self.lr_decay < 1.0:
            raise ConfigError(f"train.lr_decay must be in (0, 1), got {self.lr_decay}; "
                              "for a constant learning rate set train.lr_patience: null")
        if not 0.0 <= self.word_dropout <= 1.0:
            raise ConfigError(f"train.word_dropout must be in [0, 1], got {self.word_dropout}")
        if self.free_bits < 0:
            raise ConfigError(f"train.free_bits must be >= 0, got {self.free_bits}")


@dataclass
class Config:
    """A whole run: data, model and training."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _check_positive(obj: Any, section: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{section}.{name} must be positive, got {value}")


# ----------------------------------------------------------------------------------------------
# Building typed configs from plain dicts, with errors that name the key.


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value is False and "off" in choices:
            value = "off"  # YAML 1.1 reads a bare `off` as false (`amp: off`)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{key}: invalid choice {value!r}; valid choices: {valid}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {
            _coerce(k, key_type, f"{key}.{k}"): _coerce(v, value_type, f"{key}.{k}")
            for k, v in value.items()
        }
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (a mapping of keys), got {value!r}")
        return from_dict(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 3e-4 as a string (it wants 3.0e-4); accept the usual spelling.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            # YAML reads .nan and .inf as floats; no setting means anything with them.
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config field {key} has an unsupported annotation {tp!r}")


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build the dataclass ``cls`` from a plain dict, checking every key and type.

    Raises:
        ConfigError: naming the dotted key, and the valid keys or choices.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            where = f"section '{prefix}'" if prefix else "the top level"
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown key '{key}'{hint}; valid keys in {where}: {', '.join(names)}"
            )
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:  # __post_init__ validation of configs that live beside models
        raise ConfigError(str(err)) from None


def to_dict(cfg: Any) -> dict:
    """The plain-dict form of a config, as saved in checkpoints (``from_dict`` inverts it)."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into (["a", "b", "c"], parsed value); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value (e.g. train.lr=3e-4)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({_one_line(err)})") from None
    return parts, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply dotted ``key=value`` overrides to a nested dict (in place) and return it."""
    for text in overrides:
        parts, value = parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _one_line(err: Exception) -> str:
    """A YAML (or decoding) error as one line: PyYAML's own message spans several, with a
    caret drawing that means nothing once the CLI has put it on one line."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(err).split())


def read_yaml(path: str | Path) -> dict:
    """Read a YAML config file into a dict, with clear errors for missing or malformed files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, train)")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a config: defaults, then the YAML file (if any), then ``--set`` overrides.

    Args:
        path: a YAML file with ``data``, ``model`` and ``train`` sections, or None for defaults.
        overrides: dotted ``key=value`` strings, applied in order.

    Raises:
        ConfigError: for a missing file, bad YAML, unknown keys, wrong types or invalid choices.
    """
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, overrides or [])
    return from_dict(Config, data)
