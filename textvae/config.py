"""Typed configs: dataclasses for data, model and training, checked as they are built.

A config file is YAML with up to four sections, ``data``, ``model``, ``train`` and ``labels``, whose
keys are the fields of :class:`DataConfig`, :class:`~textvae.models.sentence_vae.ModelConfig`,
:class:`TrainConfig` and :class:`LabelsConfig`. Anything missing takes its default. ``--set a.b=value`` overrides one key;
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

from textvae.config_files import apply_overrides, read_yaml
from textvae.errors import ConfigError
from textvae.models.sentence_vae import ModelConfig


@dataclass
class TokenizerConfig:
    """How sentences become ids (docs/tokenizers.md). ``word``: a word vocabulary built from the
    training split. ``sentencepiece``: a unigram or BPE model trained on the training split.
    ``hf``: an already fit Hugging Face tokenizer (``hf_tokenizer``), not trained on the corpus."""

    kind: Literal["word", "sentencepiece", "hf"] = "word"
    min_freq: int = 1
    max_size: int | None = None
    # A token already in the data to adopt as the unknown token ("<unk>" in Mikolov's PTB).
    unk_token: str | None = None
    # Word only, for raw text: lower-case it; cut punctuation off words ("home." -> "home .").
    lowercase: bool = False
    split_punctuation: bool = False
    # SentencePiece only.
    vocab_size: int = 8000
    model_type: Literal["unigram", "bpe"] = "unigram"
    # hf only: a tokenizer.json file, a directory holding one, or a hub name.
    hf_tokenizer: str | None = None

    def __post_init__(self) -> None:
        _check_positive(self, "tokenizer", "min_freq", "vocab_size")
        if self.max_size is not None and self.max_size <= 0:
            raise ConfigError(f"data.tokenizer.max_size must be positive or null, got {self.max_size}")
        if self.kind == "hf" and not self.hf_tokenizer:
            raise ConfigError(
                "data.tokenizer.kind 'hf' needs data.tokenizer.hf_tokenizer: a tokenizer.json file, "
                "a directory holding one, or a hub name"
            )


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
        (train, valid, test) to the dataset's split names. A split whose ``*_path`` names an
        existing local text file is read from it instead (a local copy of a hub corpus, such
        as Mikolov's PTB files, needs no network).

    Without a validation file, ``valid_fraction`` holds out a seeded share of the training
    file (source ``text``).
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
    # No validation file (source text, valid_path null): hold out this seeded share of the
    # training file as the valid split (data.split_seed); null requires valid_path.
    valid_fraction: float | None = None
    split_seed: int = 0
    # Longest training sentence in tokens (words, not counting the end token); longer ones are
    # dropped or truncated and counted. Validation and test sentences are never dropped.
    max_len: int | None = 64
    long_sentences: Literal["drop", "truncate"] = "drop"
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        _check_positive(self, "data", "grammar_size")
        if self.max_len is not None and self.max_len <= 0:
            raise ConfigError(f"data.max_len must be positive or null, got {self.max_len}")
        if self.valid_fraction is not None and not 0.0 < self.valid_fraction < 1.0:
            raise ConfigError(f"data.valid_fraction must be in (0, 1) or null, got {self.valid_fraction}")
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
    # Counted in the run, not in steps: the annealing ends after this share of the planned steps
    # (train.epochs x batches per epoch, capped by max_steps), whatever the corpus size. At the
    # start of a run it sets warmup_steps (linear), x0 and k (logistic: weight 0.99 of the
    # maximum there) or total_steps (cyclical); the saved config holds the steps it chose.
    anneal_fraction: float | None = None

    def __post_init__(self) -> None:
        _check_positive(self, "train.kl", "warmup_steps", "n_cycles", "total_steps")
        if self.anneal_fraction is not None and not 0.0 < self.anneal_fraction <= 1.0:
            raise ConfigError(f"train.kl.anneal_fraction must be in (0, 1] or null, got {self.anneal_fraction}")
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
    # CPU threads for training; null chooses from the cores free at the start (a busy machine
    # gets fewer threads: oversubscribed OpenMP threads can run ten times slower). OMP_NUM_THREADS,
    # when set, is respected.
    threads: int | None = None
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
        for name in ("max_steps", "max_minutes", "threads", "eval_every", "early_stop_patience",
                     "pretrain_ae_steps", "lr_patience"):
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
class LabelsConfig:
    """Labels (Kingma et al. 2014; docs/labels.md). ``factors`` empty: an unlabelled run.

    ``mode``: ``conditional`` (a conditional VAE: every training sentence labelled, the labels fed
    to encoder and decoder), ``semi_supervised`` (M2: one factor, a classifier q(y|x), labelled
    and unlabelled sentences) or ``classifier`` (the supervised-only baseline: M2's classifier
    trained on the labelled sentences alone). Labels come from the data source: ``label<TAB>
    sentence`` files (``format: tsv``), JSON Lines (``format: jsonl``, ``data.text_column`` and one
    field per factor), a ``datasets`` column per factor (source ``hf``), or the grammar corpus's
    factors.
    """

    factors: list[str] = field(default_factory=list)
    mode: Literal["conditional", "semi_supervised", "classifier"] = "conditional"
    format: Literal["tsv", "jsonl"] = "tsv"
    # More training sentences, all used unlabelled (semi_supervised), in the same format.
    unlabelled_path: str | None = None
    # A seeded draw of this many labelled training sentences per class (label_seed fixes it;
    # the drawn indices are saved in the run directory); the rest are used unlabelled.
    labels_per_class: int | None = None
    label_seed: int = 0
    embed_dim: int = 16
    # M2's classifier q(y|x): "shared" reads the VAE encoder's final state (so unlabelled sentences
    # train its features too), "separate" has an RNN of its own over the shared embeddings.
    classifier: Literal["shared", "separate"] = "shared"
    # Kingma et al.'s alpha = alpha_scale * N (textvae/semisupervised.py).
    alpha_scale: float = 0.1

    def __post_init__(self) -> None:
        if len(set(self.factors)) != len(self.factors):
            raise ConfigError(f"labels.factors lists a factor twice: {self.factors}")
        if self.mode != "conditional" and len(self.factors) > 1:
            raise ConfigError(f"labels.mode {self.mode} infers one factor; labels.factors has {len(self.factors)}")
        if self.labels_per_class is not None and self.labels_per_class <= 0:
            raise ConfigError(f"labels.labels_per_class must be positive or null, got {self.labels_per_class}")
        _check_positive(self, "labels", "embed_dim")
        if self.alpha_scale < 0:
            raise ConfigError(f"labels.alpha_scale must be >= 0, got {self.alpha_scale}")


@dataclass
class Config:
    """A whole run: data, model, training and (optionally) labels."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)


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
                f"unknown key {_quoted(key)}{hint}; valid keys in {where}: {', '.join(names)}"
            )
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:  # __post_init__ validation of configs that live beside models
        raise ConfigError(str(err)) from None


def _quoted(key: str) -> str:
    """A key in quotes; one with a line break or other unprintable character as its repr, so
    the error stays one line."""
    return f"'{key}'" if key.isprintable() else repr(key)


def to_dict(cfg: Any) -> dict:
    """The plain-dict form of a config, as saved in checkpoints (``from_dict`` inverts it)."""
    return dataclasses.asdict(cfg)


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
