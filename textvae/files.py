"""The one way textvae writes a file: whole or not at all.

Every writer (reports, tokenizers, corpora, pictures, the aggregate prior, metric files,
checkpoint files) goes through :func:`atomic_path`: the content is written to a temporary file
in the same directory, flushed to disk, given a normal file's mode, and renamed over the target
in one step. A reader, or a run killed at any moment, sees the old file or the new one, never
part of one; on an error the temporary file is removed and the old file is left as it was.

:func:`output_problem` says, before any work, why a path could not be written (the commands
and the trainers check their outputs with it first).
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
    tmp: Path | None = None
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        os.close(fd)
        yield tmp
        os.chmod(tmp, _normal_mode())
        fsync_file(tmp)
        os.replace(tmp, path)  # IsADirectoryError onto a directory: removed below like any error
    except BaseException as err:  # KeyboardInterrupt and SystemExit too: no temporary is left
        if tmp is not None:
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


def output_problem(path: str | os.PathLike[str], *, folder: bool = False,
                   make_parents: bool = False) -> str | None:
    """Why ``path`` cannot be written, or None if it can: checked before the work whose result
    it will hold, so that a bad output path costs a second, not the run.

    Args:
        path: the file (or, with ``folder``, the folder to write files into).
        folder: ``path`` is a folder the writer fills (a run directory, a corpus, pictures).
        make_parents: the writer creates missing folders (a folder is always created).

    Returns:
        None, or the reason, to follow ``cannot write PATH:``: the target is a directory where
        a file is wanted or a file where a folder is, its directory does not exist (and the
        writer would not create it), or cannot be created or written (naming the nearest
        existing folder that is a file or is read-only, as ``os.access`` sees it).
    """
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            return "it is a file, not a folder"
        directory, name, make_parents = path, "it", True  # a run, a corpus: made by its writer
    else:
        if path.is_dir():
            return "it is a directory"
        directory, name = path.parent, f"its directory {path.parent}"
    existing = directory  # the nearest folder (or file) that exists on the way to the root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if existing == directory:
        return None if _writable(directory) else f"{name} is not writable"
    if not make_parents:
        return "its directory does not exist"
    if not _writable(existing):
        return f"{name} cannot be created: {existing} is not writable"
    return None


def _writable(directory: Path) -> bool:
    # Making, renaming and removing entries needs write and search permission on the folder.
    return os.access(directory, os.W_OK | os.X_OK)
