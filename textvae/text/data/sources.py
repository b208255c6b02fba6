"""Sentence sources: plain text files and Hugging Face ``datasets``, plus the long-sentence policy.

Every source returns a :class:`SentenceList` of plain ``str`` sentences, with the number of blank
entries it skipped, so that the caller can report them.
"""

from __future__ import annotations

import codecs
import contextlib
import glob
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from textvae.core.errors import ConfigError, DataError
from textvae.text.data.labels import records_from_columns

LOCAL_BUILDERS = ("text", "json", "csv", "parquet")
"""``datasets`` builders that read local ``data_files`` (``json`` also reads JSON Lines)."""


@dataclass(frozen=True)
class SentenceList:
    """Sentences read from one source.

    Attributes:
        sentences: the non-blank sentences, stripped of surrounding whitespace, in source order.
        blank_lines: entries skipped because they were empty or whitespace-only (for ``datasets``
            sources, also missing values: ``None`` / an empty CSV cell).
        source: where the sentences came from, for messages.
    """

    sentences: list[str]
    blank_lines: int
    source: str
    # Per sentence, its labels (factor -> value) or None; None here: the source has no labels.
    labels: list[dict[str, str] | None] | None = None

    def __len__(self) -> int:
        return len(self.sentences)


def read_text_file(path: str | os.PathLike[str]) -> SentenceList:
    """Read one sentence per line from a UTF-8 text file.

    Each line is stripped of surrounding whitespace (PTB lines start with a space) and otherwise left
    as it is. Blank lines are skipped and counted. A leading UTF-8 byte-order mark is dropped. Lines end
    at ``\\n`` only (``\\r\\n`` works too: the ``\\r`` is stripped); other Unicode line separators stay
    inside the sentence.

    Raises:
        DataError: the file is missing or unreadable, is not valid UTF-8 (the message gives the line),
            or holds no sentences.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"corpus file {path} not found; check the path in the data config"
        ) from None
    except IsADirectoryError:
        raise DataError(
            f"corpus path {path} is a directory; give a text file with one sentence per line"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read corpus file {path}: {e.strerror}") from None

    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        # Decoding the whole file at once is fast; the error offset gives the line.
        line = data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}, line {line}: invalid UTF-8 (byte 0x{data[e.start]:02x} at column "
            f"{e.start - line_start + 1}); re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None

    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start a blank one
    sentences = [s for s in (line.strip() for line in lines) if s]
    blank = len(lines) - len(sentences)
    if not sentences:
        raise DataError(f"corpus file {path} contains no sentences ({blank} blank lines)")
    return SentenceList(sentences=sentences, blank_lines=blank, source=str(path))


def hold_out(train: SentenceList, fraction: float, seed: int) -> tuple[SentenceList, SentenceList]:
    """Split a training corpus into (train, valid) when there is no validation file: a seeded
    random ``fraction`` of the sentences (at least one) is held out, the rest kept in order.

    Raises:
        DataError: fewer than two sentences, so nothing would be left on one side.
    """
    held = held_out_indices(len(train.sentences), fraction, seed, train.source)
    kept = [s for i, s in enumerate(train.sentences) if i not in held]
    valid = [s for i, s in enumerate(train.sentences) if i in held]
    where = f"{train.source} (seeded {fraction:g} held out)"
    return (SentenceList(kept, train.blank_lines, f"{where}, train part"),
            SentenceList(valid, 0, f"{where}, valid part"))


def held_out_indices(n: int, fraction: float, seed: int, source: str = "the corpus") -> set[int]:
    """Which of ``n`` training sentences :func:`hold_out` holds out (also for labelled ones)."""
    if n < 2:
        raise DataError(f"{source} has {n} sentence; holding out a validation share needs at least 2")
    n_valid = min(n - 1, max(1, round(fraction * n)))
    return set(random.Random(seed).sample(range(n), n_valid))


def read_hf(
    name_or_format: str,
    *,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    data_files: str | list[str] | dict[str, str | list[str]] | None = None,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    label_columns: Sequence[str] = (),
) -> SentenceList:
    """Read sentences through ``datasets.load_dataset``.

    Two modes:

    * **Local files**: ``name_or_format`` is a builder in :data:`LOCAL_BUILDERS` and ``data_files``
      names the files. A plain path or list of paths is taken to be the files of ``split``; a dict maps
      split names to files. The "text" builder yields one row per line in a column named "text".
    * **Hub dataset**: any other ``name_or_format`` is a dataset name, loaded as
      ``load_dataset(name, config, split=split)`` (``data_files`` passed on when given).

    Each value of ``text_column`` is stripped; empty or whitespace-only strings and missing values
    (``None``, e.g. an empty CSV cell) are skipped and counted in ``blank_lines``. Any other non-string
    value is an error, since it means the column is not text.

    Args:
        name_or_format: a local builder name or a hub dataset name.
        config: the hub dataset's configuration name (not allowed with local builders).
        split: the split to read.
        text_column: the column that holds the sentences.
        data_files: local files (required with a local builder; paths, globs or URLs).
        streaming: iterate without writing an Arrow cache (the sentences are still collected in memory).
        cache_dir: ``datasets`` cache directory; ``None`` uses its default.
        label_columns: columns read as label factors (``SentenceList.labels``; a ``ClassLabel``
            column gives its names; None or a negative id is unlabelled). Not with streaming.

    Raises:
        ConfigError: inconsistent arguments (e.g. a local builder without ``data_files``).
        DataError: files missing, the split or column absent, non-text values, nothing to read, or
            ``datasets`` failing to load (its message is included).
    """
    import datasets

    if streaming and label_columns:
        raise ConfigError("label columns are read from a whole dataset, not with streaming")
    local = name_or_format in LOCAL_BUILDERS
    if local:
        if data_files is None:
            raise ConfigError(
                f"the '{name_or_format}' builder reads local files: set data_files (a path, a list, or a "
                "dict of split -> paths)"
            )
        if config is not None:
            raise ConfigError(
                f"the '{name_or_format}' builder takes no config name (got {config!r})"
            )
        if name_or_format == "text" and text_column != "text":
            raise ConfigError(
                f"the 'text' builder has a single column named 'text'; got text_column={text_column!r}"
            )
        if isinstance(data_files, (str, os.PathLike, list, tuple)):
            data_files = {split: data_files}
        if split not in data_files:
            raise ConfigError(
                f"split {split!r} is not among the data_files splits {sorted(data_files)}"
            )
        _check_local_files(data_files)
        source = f"{name_or_format} files {_as_str_files(data_files.get(split, data_files))}"
    else:
        source = f"dataset {name_or_format}" + (f" ({config})" if config else "")
    source += f" [split {split}, column {text_column}]"

    kwargs: dict[str, Any] = {"split": split, "streaming": streaming}
    if data_files is not None:
        kwargs["data_files"] = _as_str_files(data_files)
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)

    with _quiet_datasets():
        try:
            dataset = datasets.load_dataset(name_or_format, config, **kwargs)
        except FileNotFoundError as e:
            raise DataError(f"cannot load {source}: {e}") from e
        except datasets.exceptions.DatasetNotFoundError as e:
            raise DataError(
                f"cannot load {source}: {e}. Check the dataset name, or that the hub can be reached "
                "(offline, only datasets already in the cache load)"
            ) from e
        except (datasets.exceptions.DatasetsError, ValueError, OSError) as e:
            # Unknown split, unparsable file, network failure: datasets' own message says which.
            raise DataError(f"cannot load {source}: {type(e).__name__}: {_cause_message(e)}") from e

        columns = dataset.column_names
        if columns is not None and text_column not in columns:
            raise DataError(
                f"{source}: no column {text_column!r}; available columns: {list(columns)}. "
                "Set text_column to the one holding the sentences"
            )
        try:
            if label_columns:  # not streamed (refused above)
                return _with_labels(dataset, dataset[text_column], label_columns, source)
            values = (
                _stream_column(dataset, text_column, source) if streaming else dataset[text_column]
            )
            return _collect(values, source)
        except (datasets.exceptions.DatasetsError, ValueError, OSError) as e:
            # A streamed dataset reads (and can fail) only now.
            raise DataError(f"cannot read {source}: {type(e).__name__}: {_cause_message(e)}") from e


def _with_labels(dataset: Any, texts: list[Any], columns: Sequence[str], source: str) -> SentenceList:
    """:func:`_collect` of a (non-streamed) dataset, with its label columns kept in step."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataError(f"{source}: no label column {', '.join(map(repr, missing))}; available "
                        f"columns: {list(dataset.column_names)}")
    read = _collect(texts, source)
    kept = [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]
    names = {c: dataset.features[c].names for c in columns if hasattr(dataset.features[c], "names")}
    values = {c: dataset[c] for c in columns}
    _, labels = records_from_columns(read.sentences, {c: [values[c][i] for i in kept] for c in columns}, names)
    return SentenceList(read.sentences, read.blank_lines, source, labels=labels)


def _stream_column(dataset: Iterable[Mapping[str, Any]], column: str, source: str) -> Iterator[Any]:
    """The values of ``column`` from a streamed dataset, whose columns may be unknown until read."""
    for row in dataset:
        if column not in row:
            raise DataError(
                f"{source}: no column {column!r}; available columns: {list(row)}. "
                "Set text_column to the one holding the sentences"
            )
        yield row[column]


def _collect(values: Iterable[Any], source: str) -> SentenceList:
    sentences: list[str] = []
    blank = 0
    for row, value in enumerate(values):
        if value is None:
            blank += 1
            continue
        if not isinstance(value, str):
            raise DataError(
                f"{source}: row {row} holds a value of type {type(value).__name__} ({value!r:.40}), not text; "
                "set text_column to a column of strings"
            )
        stripped = value.strip()
        if stripped:
            sentences.append(stripped)
        else:
            blank += 1
    if not sentences:
        raise DataError(f"{source} contains no sentences ({blank} blank or missing values)")
    return SentenceList(sentences=sentences, blank_lines=blank, source=source)


def _cause_message(e: BaseException) -> str:
    """The message of ``e``, followed by that of its cause (datasets wraps the real error)."""
    message = str(e)
    cause = e.__cause__ or e.__context__
    if cause is not None and str(cause) not in message:
        message += f" (caused by {type(cause).__name__}: {cause})"
    return message


def _is_remote(path: str) -> bool:
    return "://" in path


def _check_local_files(data_files: Mapping[str, Any]) -> None:
    """Fail early, naming the file, for a local path (or glob) that matches nothing."""
    for split, files in data_files.items():
        for f in [files] if isinstance(files, (str, os.PathLike)) else files:
            f = os.fspath(f)
            if _is_remote(f):
                continue
            if glob.has_magic(f):
                if not glob.glob(f, recursive=True):
                    raise DataError(
                        f"no file matches {f} (data_files of split {split}); check the pattern"
                    )
            elif not os.path.isfile(f):
                what = "is a directory, not a file" if os.path.isdir(f) else "not found"
                raise DataError(
                    f"data file {f} {what} (data_files of split {split}); check the path"
                )


def _as_str_files(data_files: Any) -> Any:
    """``data_files`` with path objects turned into strings, which is what datasets expects."""
    if isinstance(data_files, Mapping):
        return {k: _as_str_files(v) for k, v in data_files.items()}
    if isinstance(data_files, (list, tuple)):
        return [os.fspath(f) for f in data_files]
    return os.fspath(data_files)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence datasets' progress bars and info logs for the duration of a load, then restore them."""
    import datasets

    bars_were_disabled = datasets.are_progress_bars_disabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if not bars_were_disabled:
            datasets.enable_progress_bars()


def apply_max_len(
    token_ids: list[list[int]], max_len: int, policy: Literal["truncate", "drop"]
) -> tuple[list[list[int]], int]:
    """Apply the long-sentence policy.

    Args:
        token_ids: one id sequence per sentence; ``max_len`` counts its ids as given (whether they
            include eos is the caller's choice).
        max_len: the longest allowed sequence.
        policy: "truncate" keeps the first ``max_len`` ids of a longer sequence; "drop" removes it.

    Returns:
        ``(sequences, affected)``: the kept (and possibly truncated) sequences in their original order,
        and the number of sequences longer than ``max_len``. The input is not modified; sequences within
        the limit are returned as the same list objects.

    Raises:
        ConfigError: ``max_len`` < 1 or an unknown ``policy``.
    """
    if max_len < 1:
        raise ConfigError(f"max_len must be >= 1, got {max_len}")
    if policy == "truncate":
        out = [seq if len(seq) <= max_len else seq[:max_len] for seq in token_ids]
    elif policy == "drop":
        out = [seq for seq in token_ids if len(seq) <= max_len]
    else:
        raise ConfigError(f"long-sentence policy must be 'truncate' or 'drop', got {policy!r}")
    affected = sum(1 for seq in token_ids if len(seq) > max_len)
    return out, affected
