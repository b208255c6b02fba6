"""Typed configs: dataclasses for data, model and training, checked as they are built.

A config file is YAML with up to four sections, ``data``, ``model``, ``train`` and ``labels``, whose
keys are the fields of :class:`DataConfig`, :class:`~textvae.text.models.sentence_vae.ModelConfig`,
:class:`TrainConfig` and :class:`LabelsConfig`. Anything missing takes its default. ``--set a.b=value`` overrides one key;
the value is parsed as YAML (``--set train.lr=3e-4``, ``--set data.max_len=null``).

Validation is strict, because a typo that silently falls back to a default wastes a training run:
an unknown key, a wrong type or an invalid choice raises :class:`~textvae.core.errors.ConfigError`
whose message names the key and the valid keys or choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from textvae.core.config_files import apply_overrides, parse_override, read_yaml
from textvae.core.config_types import RunConfig, check_positive, from_dict, to_dict
from textvae.core.errors import ConfigError
from textvae.core.label_config import SharedLabelsConfig
from textvae.core.loop_config import KLScheduleConfig, LoopTrainConfig
from textvae.text.models.sentence_vae import ModelConfig

# Re-exported: the names users and older code import from here.
__all__ = ["Config", "DataConfig", "KLScheduleConfig", "LabelsConfig", "TokenizerConfig",
           "TrainConfig", "from_dict", "load_config", "to_dict"]


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
    # Any kind: reuse the tokenizer saved with this run or checkpoint instead of fitting one,
    # so that two runs share one vocabulary (a reference LM for `textvae evaluate --reference-lm`).
    from_run: str | None = None

    def __post_init__(self) -> None:
        check_positive(self, "tokenizer", "min_freq", "vocab_size")
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
        check_positive(self, "data", "grammar_size")
        if self.max_len is not None and self.max_len <= 0:
            raise ConfigError(f"data.max_len must be positive or null, got {self.max_len}")
        if self.valid_fraction is not None and not 0.0 < self.valid_fraction < 1.0:
            raise ConfigError(f"data.valid_fraction must be in (0, 1) or null, got {self.valid_fraction}")
        if self.source == "hf" and self.hf_name is None:
            raise ConfigError("data.source is 'hf' but data.hf_name is not set")


@dataclass
class TrainConfig(LoopTrainConfig):
    """The loop's shared keys (:class:`~textvae.core.loop_config.LoopTrainConfig`) and what only the
    text trainers read: bucketing, word dropout, word deletion, free bits, ``torch.compile`` and
    the collapse remedies."""

    bucketed: bool = True
    # Validate on a fixed seeded subset of this many validation sentences (null: all of them):
    # a large validation file otherwise costs a share of a time-budgeted run.
    valid_sentences: int | None = None
    word_dropout: float = 0.0
    # Shen et al. 2020's denoising: each word of the encoder's input is deleted with this
    # probability (the decoder still reconstructs the whole sentence); 0: off.
    word_deletion: float = 0.0
    free_bits: float = 0.0
    free_bits_mode: Literal["dim", "total"] = "dim"
    # torch.compile the training forward pass (dynamic shapes, since every bucket has its own
    # length). Off by default: on the CPU it measured 17% slower than eager (docs/performance.md),
    # and the first steps pay the compilation.
    compile: bool = False
    # Collapse remedies and warning (textvae/text/training/remedies.py). aggressive: He et al. 2019 inner
    # encoder-only updates, off once validation MI stops rising. pretrain_ae_steps: Li et al.
    # 2019, train as an autoencoder for this many steps, reset the decoder, then free bits.
    # collapse_warning: log once when validation KL < 0.1 nats (or 0 active units and KL < 1
    # nat) for collapse_patience validations in a row.
    aggressive: bool = False
    aggressive_max_inner: int = 100
    pretrain_ae_steps: int | None = None
    collapse_warning: bool = True
    collapse_patience: int = 3
    # A warm start (textvae/core/warm_start.py): a run or checkpoint whose weights the model starts
    # from wherever a tensor has the same name and shape, e.g. a trained LM's decoder and embedding
    # for a VAE. The run then uses that run's tokenizer (data.tokenizer.from_run), so ids agree.
    init_from: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "train", "aggressive_max_inner", "collapse_patience")
        if self.pretrain_ae_steps is not None and self.pretrain_ae_steps <= 0:
            raise ConfigError(f"train.pretrain_ae_steps must be positive or null, got {self.pretrain_ae_steps}")
        if not 0.0 <= self.word_dropout <= 1.0:
            raise ConfigError(f"train.word_dropout must be in [0, 1], got {self.word_dropout}")
        if self.valid_sentences is not None and self.valid_sentences <= 0:
            raise ConfigError(f"train.valid_sentences must be positive or null, got "
                              f"{self.valid_sentences}")
        if not 0.0 <= self.word_deletion < 1.0:
            raise ConfigError(f"train.word_deletion must be in [0, 1), got {self.word_deletion}")
        if self.free_bits < 0:
            raise ConfigError(f"train.free_bits must be >= 0, got {self.free_bits}")
        if self.init_from is not None and self.pretrain_ae_steps is not None:
            # The decoder reset that ends autoencoder pretraining would discard the decoder the
            # warm start copied in.
            raise ConfigError(
                "train.init_from and train.pretrain_ae_steps together: the decoder reset after "
                "pretraining would discard the warm-started decoder; set one of them to null"
            )


@dataclass
class LabelsConfig(SharedLabelsConfig):
    """Labels (Kingma et al. 2014; docs/labels.md). ``factors`` empty: an unlabelled run.

    The keys both sides share (``factors``, the seeded draw ``labels_per_class`` and
    ``label_seed``, the weight ``alpha_scale``) are :class:`~textvae.core.label_config.SharedLabelsConfig`'s;
    the rest are text-only.

    ``mode``: ``conditional`` (a conditional VAE: every training sentence labelled, the labels fed
    to encoder and decoder), ``semi_supervised`` (M2: one factor, a classifier q(y|x), labelled
    and unlabelled sentences) or ``classifier`` (the supervised-only baseline: M2's classifier
    trained on the labelled sentences alone). Labels come from the data source: ``label<TAB>
    sentence`` files (``format: tsv``), JSON Lines (``format: jsonl``, ``data.text_column`` and one
    field per factor), a ``datasets`` column per factor (source ``hf``), or the grammar corpus's
    factors. A ``labels_per_class`` draw's indices are saved in the run directory.
    """

    mode: Literal["conditional", "semi_supervised", "classifier"] = "conditional"
    format: Literal["tsv", "jsonl"] = "tsv"
    # More training sentences, all used unlabelled (semi_supervised), in the same format.
    unlabelled_path: str | None = None
    embed_dim: int = 16
    # M2's classifier q(y|x): "shared" reads the VAE encoder's final state (so unlabelled sentences
    # train its features too), "separate" has an RNN of its own over the shared embeddings.
    classifier: Literal["shared", "separate"] = "shared"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode != "conditional" and len(self.factors) > 1:
            raise ConfigError(f"labels.mode {self.mode} infers one factor; labels.factors has {len(self.factors)}")
        check_positive(self, "labels", "embed_dim")


@dataclass
class Config(RunConfig):
    """A whole run: data, model, training and (optionally) labels."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    labels: LabelsConfig = field(default_factory=LabelsConfig)

    def __post_init__(self) -> None:
        model, longest = self.model, self.data.max_len
        if (model.uses_transformer() and model.positions == "learned" and longest is not None
                and longest + 1 > model.max_positions):
            raise ConfigError(f"data.max_len {longest} needs {longest + 1} learned positions (words "
                              f"+ 1) but model.max_positions is {model.max_positions}: raise it, "
                              "or use model.positions=sinusoidal")


def with_warm_start_tokenizer(config: Config) -> Config:
    """A fresh run's config with ``train.init_from`` made absolute and its tokenizer taken as
    ``data.tokenizer.from_run``: the copied embedding rows belong to that tokenizer's ids.

    Raises:
        ConfigError: ``train.init_from`` does not exist, or ``data.tokenizer.from_run`` names
            another run.
    """
    source, tokenizer = config.train.init_from, config.data.tokenizer
    if source is None:
        return config
    if not Path(source).exists():
        raise ConfigError(f"train.init_from {source!r} does not exist: give a run directory or a "
                          "checkpoint directory to start from")
    source = str(Path(source).resolve())
    if tokenizer.from_run is not None and str(Path(tokenizer.from_run).resolve()) != source:
        raise ConfigError(
            f"train.init_from {config.train.init_from!r} needs that run's tokenizer, but "
            f"data.tokenizer.from_run names {tokenizer.from_run!r}: leave from_run unset "
            "(the warm start sets it) or name the same run")
    data = replace(config.data, tokenizer=replace(tokenizer, from_run=source))
    return replace(config, data=data, train=replace(config.train, init_from=source))


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
    _drop_replaced_rnn_keys(data, overrides or [])
    return from_dict(Config, data)


# The keys of an RNN part that contradict a transformer in its place (the transformer decoder
# reads z by model.z_conditioning; the transformer encoder reads both ways).
RNN_PART_KEYS = {"decoder": ("z_to_inputs",), "encoder": ("bidirectional",)}


def _drop_replaced_rnn_keys(data: dict, overrides: list[str]) -> None:
    """``--set model.decoder=transformer`` (or ``encoder``) on a config written for an RNN: the
    file's keys of the RNN part it replaces give way, as its hidden sizes go unread, so that the
    one override works on any text config. The same keys given with ``--set`` still conflict."""
    model = data.get("model")
    if not isinstance(model, dict):
        return
    overridden = {tuple(parse_override(text)[0]) for text in overrides}
    for part, keys in RNN_PART_KEYS.items():
        if ("model", part) in overridden and model.get(part) == "transformer":
            for key in keys:
                if ("model", key) not in overridden:
                    model.pop(key, None)
