"""From a data config and a labels config to tokenized, labelled splits.

    labelled sentences (tsv | jsonl | datasets | grammar) [+ unlabelled file] -> label set
        -> [seeded labels_per_class draw] -> tokenizer (fit on all training text) -> ids, labels

Labels are (F,) class ids per sentence, :data:`~textvae.core.label_sets.UNLABELLED` where unknown. The
training split's ``max_len`` filter drops labels with their sentences; valid and test are whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from textvae.core.errors import ConfigError, DataError
from textvae.core.label_sets import UNLABELLED, LabelSet, draw_per_class
from textvae.text.data.labels import Records, grammar_records, read_jsonl, read_tsv
from textvae.text.data.sources import apply_max_len, held_out_indices, read_hf
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.run.config import DataConfig, LabelsConfig
from textvae.text.run.corpus import SPLITS, Corpus, fit_tokenizer


@dataclass
class LabelledCorpus:
    """Tokenized splits with their labels.

    Attributes:
        corpus: the tokenizer, ids and sentences per split (as :class:`Corpus`).
        label_set: the factors and their values (class ids index them).
        labels: split -> per sentence (F,) class ids, aligned with ``corpus.ids[split]``.
        drawn: the training sentences (indices into the file's labelled-then-unlabelled order)
            whose labels a ``labels_per_class`` draw kept, or None.
    """

    corpus: Corpus
    label_set: LabelSet
    labels: dict[str, list[list[int]]]
    drawn: list[int] | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        return self.corpus.tokenizer

    def labelled_count(self, split: str = "train") -> int:
        return sum(1 for row in self.labels[split] if UNLABELLED not in row)


@lru_cache(maxsize=2)
def _grammar(size: int, seed: int) -> dict:
    from textvae.text.data.grammar import grammar_splits

    return grammar_splits(size, seed, size_name="data.grammar_size")


def read_labelled(data: DataConfig, labels: LabelsConfig, split: str) -> Records:
    """One split's sentences and labels, as the configs name them (no unlabelled extra file)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    factors = labels.factors
    if data.source == "grammar":
        return grammar_records(_grammar(data.grammar_size, data.grammar_seed)[split], factors)
    if data.source == "hf":
        if data.hf_name is None:  # DataConfig refuses this; a config changed after it was checked
            raise ConfigError("data.source is 'hf' but data.hf_name is not set")
        hf_split = data.hf_splits.get(split, split)
        if data.hf_data_files is not None and hf_split not in data.hf_data_files:
            raise ConfigError(f"data.hf_data_files has no file for split '{hf_split}' "
                              f"(has: {', '.join(data.hf_data_files)})")
        read = read_hf(data.hf_name, config=data.hf_config, split=hf_split,
                       text_column=data.text_column, label_columns=factors,
                       data_files=None if data.hf_data_files is None else
                       {hf_split: data.hf_data_files[hf_split]})
        if read.labels is None:  # read_hf keeps labels whenever it is given label columns
            raise DataError(f"{data.hf_name}: no labels read from columns {factors}")
        return read.sentences, read.labels
    if split != "test" and data.valid_path is None and data.valid_fraction is not None:
        train = _required_path(data.train_path, "train")
        sentences, found = _read_file(train, labels, data.text_column)
        held = held_out_indices(len(sentences), data.valid_fraction, data.split_seed, train)
        keep = [i for i in range(len(sentences)) if (i in held) == (split == "valid")]
        return [sentences[i] for i in keep], [found[i] for i in keep]
    return _read_file(_required_path(getattr(data, f"{split}_path"), split), labels, data.text_column)


def _required_path(path: str | None, split: str) -> str:
    if path is None:
        raise ConfigError(f"data.{split}_path is not set, but the labelled {split} split is needed")
    return path


def _read_file(path: str, labels: LabelsConfig, text_field: str) -> Records:
    if labels.format == "tsv":
        if len(labels.factors) != 1:
            raise ConfigError("labels.format tsv holds one label per line; for several factors use jsonl")
        return read_tsv(path, labels.factors[0])
    return read_jsonl(path, text_field, labels.factors)


def build_labelled_corpus(
    data: DataConfig,
    labels: LabelsConfig,
    *,
    tokenizer: Tokenizer | None = None,
    label_set: LabelSet | None = None,
    splits: tuple[str, ...] = ("train", "valid"),
    log: Callable[[str], None] = print,
) -> LabelledCorpus:
    """Read, label, draw, tokenize and length-filter the requested splits.

    Args:
        tokenizer, label_set: a checkpoint's (resume, evaluation); None fits them on train
            (then ``splits`` must hold train).
    """
    if not labels.factors:
        raise ConfigError("labels.factors is empty: name the label factor(s) of a labelled run")
    records = {split: read_labelled(data, labels, split) for split in splits}
    if "train" in records:
        records["train"] = _with_unlabelled(records["train"], labels, data.text_column, log)
    if (label_set is None or tokenizer is None) and "train" not in records:
        raise ValueError("without a checkpoint's label set and tokenizer, splits must include train")
    if label_set is None:
        label_set = LabelSet.from_records(records["train"][1], labels.factors)
    drawn = None
    if "train" in records and labels.labels_per_class is not None:
        factor = labels.factors[0]
        classes = [label_set.encode(x)[0] for x in records["train"][1]]
        drawn = draw_per_class(classes, labels.labels_per_class, labels.label_seed)
        log(f"labels: a seeded draw of {labels.labels_per_class} per {factor} value, {len(drawn)} labelled")
    if tokenizer is None:  # fit on every training sentence, labelled or not
        tokenizer = fit_tokenizer(data, records["train"][0], log)
    corpus = Corpus(tokenizer=tokenizer)
    labels_by_split: dict[str, list[list[int]]] = {}
    for split, (sentences, found) in records.items():
        rows = [label_set.encode(x) for x in found]
        if drawn is not None and split == "train":
            chosen = set(drawn)
            rows = [row if i in chosen else [UNLABELLED] * len(row) for i, row in enumerate(rows)]
        ids = [tokenizer.encode(s) for s in sentences]
        if split == "train" and data.max_len is not None:
            keep = [i for i, x in enumerate(ids) if len(x) <= data.max_len or data.long_sentences == "truncate"]
            ids, _ = apply_max_len([ids[i] for i in keep], data.max_len, "truncate")
            rows, sentences = [rows[i] for i in keep], [sentences[i] for i in keep]
        corpus.ids[split], corpus.sentences[split], labels_by_split[split] = ids, list(sentences), rows
        labelled = sum(1 for row in rows if UNLABELLED not in row)
        log(f"{split}: {len(ids)} sentences, {labelled} labelled")
    if labels.mode == "conditional" and "train" in labels_by_split:
        missing = sum(1 for row in labels_by_split["train"] if UNLABELLED in row)
        if missing:
            raise DataError(f"labels.mode conditional needs every training sentence labelled in "
                            f"{', '.join(labels.factors)}; {missing} are not (M2, labels.mode "
                            "semi_supervised, uses unlabelled sentences)")
    return LabelledCorpus(corpus, label_set, labels_by_split, drawn)


def _with_unlabelled(train: Records, labels: LabelsConfig, text_field: str,
                     log: Callable[[str], None]) -> Records:
    """The training records followed by the unlabelled file's sentences (labels.unlabelled_path;
    its lines may carry labels, which are ignored; JSON Lines: the text in ``data.text_column``,
    as in the labelled files)."""
    if labels.unlabelled_path is None:
        return train
    extra = (read_tsv(labels.unlabelled_path, labels.factors[0]) if labels.format == "tsv"
             else read_jsonl(labels.unlabelled_path, text_field, labels.factors))[0]
    log(f"unlabelled: {len(extra)} more training sentences from {labels.unlabelled_path}")
    return train[0] + extra, train[1] + [None] * len(extra)
