"""The one way textvae writes a file: whole or not at all.

Every writer (reports, tokenizers, corpora, pictures, the aggregate prior, metric files,
checkpoint files) goes through :func:`atomic_path`: the content is written to a temporary file
in the same directory, flushed to disk, given a normal file's mode, and renamed over the target
in one step. A reader, or a run killed at any moment, sees the old file or the new one, never
part of one; on an error the temporary file is removed and the old file is left as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from textvae.errors import FileWriteError


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's content to disk."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _normal_mode() -> int:
    # mkstemp makes 0600 files; a written file should be readable like any other (0666 - umask).
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write into; on a clean exit it is flushed and
    renamed over ``path``, on an exception removed (and the exception re-raised).

    Args:
        path: the file to write.
        make_parents: create missing parent directories first.

    Raises:
        FileWriteError: the temporary file could not be made or renamed (its message names the
            path and the reason); errors raised by the caller's own writing pass through.
    """
    path = Path(path)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as err:
        raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _normal_mode())
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError) and not isinstance(err, FileWriteError):
            raise FileWriteError(f"cannot write {path}: {err.strerror or err}") from None
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    with atomic_path(path, make_parents=make_parents) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, make_parents: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically, with ``\\n`` line ends. Returns the path."""
    return write_bytes(path, text.encode("utf-8"), make_parents=make_parents)


def write_json(path: str | os.PathLike[str], data: Any, *, make_parents: bool = False) -> Path:
    """Write ``data`` as indented JSON (and a final newline) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2) + "\n", make_parents=make_parents)


def write_with(path: str | os.PathLike[str], write: Callable[[Path], None], *,
               make_parents: bool = False) -> Path:
    """Atomically write ``path`` with a writer that takes a file path (``torch.save``, a PNG
    encoder, SentencePiece's trainer output). Returns the path."""
    with atomic_path(path, make_parents=make_parents) as tmp:
        write(tmp)
    return Path(path)
