"""The one way textvae writes a file: whole or not at all, and only ever over a regular file.

Every writer (reports, tokenizers, corpora, pictures, the aggregate prior, metric files,
checkpoint files) goes through :func:`atomic_path`. Where the output goes decides how:

- a regular file, or nothing yet: written to a temporary file in the same directory, flushed,
  given a normal file's mode and renamed over the target in one step, so a reader (or a run
  killed at any moment) sees the old file or the new one; on an error the temporary is removed;
- a symbolic link, or a chain of them: its final target is replaced so, in its own directory;
  the link stays a link, and a dangling one gets its target made;
- a character device or a FIFO (``/dev/null``, ``/dev/full``, a named pipe), this process's own
  descriptors (``/dev/stdout``, ``/dev/fd/N``) and ``-`` (standard output): opened and written,
  never renamed over, once the whole content is made (a writer that fails sends nothing);
- a block device or a socket: refused.

:func:`output_problem` says, before any work, why a path could not be written, by trying (a
probe file, the folders the writer would make, a device opened), not by asking ``os.access``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from textvae.core.errors import FileWriteError

STDOUT = "-"  # as an output file: standard output
_CHUNK = 1 << 20
# This process's open descriptors, spelled as paths (/dev/stdout links to /proc/self/fd/1).
_DESCRIPTOR = re.compile(r"^/(?:proc/(self|\d+)/fd|dev/fd)/(\d+)$")
_MAX_LINKS = 40  # the kernel's own limit before ELOOP
# FIFOs the check opened, held until written: a reader waiting (`cat fifo`) sees no end first.
_HELD: dict[tuple[int, int], int] = {}


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


@dataclass(frozen=True)
class _Target:
    path: Path  # the final target after symbolic links (for a descriptor, the path that names it)
    kind: str  # "file" (regular or not there yet), "device", "descriptor", "stream", "refused"
    fd: int | None = None  # a descriptor's number
    why: str | None = None  # a refused target's reason

    def descriptor(self) -> int:
        """The number of a ``descriptor`` target (which :func:`_target` always gives one)."""
        if self.fd is None:
            raise FileWriteError(f"cannot write {self.path}: it names no open descriptor")
        return self.fd


def _target(path: str | os.PathLike[str]) -> _Target:
    """Where writing ``path`` ends up, following symbolic links one at a time (the kernel's
    realpath would lose a dangling link's target and this process's descriptors)."""
    if os.fspath(path) == STDOUT:
        return _Target(Path(STDOUT), "stream")
    current = Path(path)
    for _ in range(_MAX_LINKS):
        match = _DESCRIPTOR.match(os.path.abspath(current))
        if match:  # this process's descriptor is written as it is; another's is opened
            own = match[1] in (None, "self", str(os.getpid()))
            return _Target(current, "descriptor" if own else "device", fd=int(match[2]))
        try:
            mode = os.lstat(current).st_mode
        except OSError:  # not there (a new file, a dangling link's target), or through a file
            return _Target(current, "file")
        if stat.S_ISLNK(mode):
            current = current.parent / os.readlink(current)
        elif stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return _Target(current, "device")
        elif stat.S_ISBLK(mode):
            return _Target(current, "refused", why="it is a block device, not a file")
        elif stat.S_ISSOCK(mode):
            return _Target(current, "refused", why="it is a socket, not a file or a named pipe")
        else:
            return _Target(current, "file")  # a regular file, or a directory (refused later)
    return _Target(Path(path), "refused", why=os.strerror(errno.ELOOP))


def _shown(path: str | os.PathLike[str]) -> str:
    return "to standard output" if os.fspath(path) == STDOUT else str(path)


def writes_to_stdout(path: str | os.PathLike[str]) -> bool:
    """Whether writing ``path`` writes this process's standard output (``-``, ``/dev/stdout``),
    which should then hold nothing else."""
    target = _target(path)
    return target.kind == "stream" or (target.kind == "descriptor" and target.fd == 1)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:  # a pipe takes part of a large write
        view = view[os.write(fd, view):]


def _deliver(target: _Target, source: BinaryIO) -> None:
    """Write ``source`` to a stream, a descriptor or a device: opened and written, no rename."""
    if target.kind == "stream":
        out = sys.stdout
        if out is None or out.closed:
            raise FileWriteError("cannot write to standard output: it is closed")
        out.flush()
        while chunk := source.read(_CHUNK):  # a text-only stream (a StringIO) takes text only
            out.buffer.write(chunk) if hasattr(out, "buffer") else out.write(chunk.decode())
        out.flush()
        return
    for stream in (sys.stdout, sys.stderr):  # what the command printed comes first
        if stream is not None and not stream.closed:
            stream.flush()
    if target.kind == "descriptor":
        fd, own = target.descriptor(), False
    else:  # no O_CREAT, no O_TRUNC: it is there, a device has nothing to cut (and a file that
        # another process's descriptor names is added to, as that process would)
        held = _HELD.pop(_identity(target.path), None)
        fd = held if held is not None else os.open(
            target.path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
        own = True
    try:
        while chunk := source.read(_CHUNK):
            _write_all(fd, chunk)
    finally:
        if own:
            os.close(fd)


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _write_error(err: BaseException, path: str | os.PathLike[str], target: _Target | None):
    """The one-line error for an OSError while writing ``path``, or None to let ``err`` pass:
    a reader of standard output that went away (``| head``) is the CLI's quiet exit 141."""
    if not isinstance(err, OSError) or isinstance(err, FileWriteError) or (
            isinstance(err, BrokenPipeError) and target and target.kind in ("stream", "descriptor")):
        return None
    return write_failure(path, err.strerror or str(err))


def write_failure(path: str | os.PathLike[str], reason: str) -> FileWriteError:
    """``cannot write PATH: REASON``, with the reason alone as its ``strerror``: a caller that
    wrote ``path`` inside a temporary folder names its own target with it instead."""
    err = FileWriteError(f"cannot write {_shown(path)}: {reason}")
    err.strerror = reason  # errno stays None: str(err) stays the message
    return err


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write into; on a clean exit its content goes to ``path`` (as
    the module's docstring says), on an exception it is removed (and the exception re-raised).

    Args:
        path: the file to write; ``-`` is standard output.
        make_parents: create missing parent directories (of a link's final target) first.

    Raises:
        FileWriteError: naming the path and the reason, for any OSError (the caller's writing
            included); the caller's other errors pass through.
    """
    target: _Target | None = None
    tmp: Path | None = None
    try:
        target = _target(path)
        if target.kind == "refused":
            raise FileWriteError(f"cannot write {path}: {target.why}")
        final = target.path
        # a regular file's temporary lies beside it (a rename stays in one file system);
        # anything else's in the system's temporary folder (/dev is no place for it)
        directory = final.parent if target.kind == "file" else None
        if directory is not None and make_parents:
            directory.mkdir(parents=True, exist_ok=True)
        prefix = f".{final.name}." if directory is not None else "textvae-"
        fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
        tmp = Path(name)
        os.close(fd)
        yield tmp
        if directory is None:
            with open(tmp, "rb") as source:
                _deliver(target, source)
            tmp.unlink()
        else:
            os.chmod(tmp, _normal_mode())
            fsync_file(tmp)
            os.replace(tmp, final)  # IsADirectoryError onto a directory: removed below
    except BaseException as err:  # KeyboardInterrupt and SystemExit too: no temporary is left
        if tmp is not None:
            with suppress(OSError):
                tmp.unlink()
        if (converted := _write_error(err, path, target)) is None:
            raise
        raise converted from None


def write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). Returns the path."""
    target = _target(path)
    if target.kind in ("device", "descriptor", "stream"):  # written as it is, no temporary
        try:
            _deliver(target, io.BytesIO(data))
        except OSError as err:
            if (converted := _write_error(err, path, target)) is None:
                raise
            raise converted from None
        return Path(path)
    with atomic_path(path, make_parents=make_parents) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
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

    It tries: it makes the folders the writer would make (a folder output, or a file's with
    ``make_parents``), creates and removes a probe file where the output will go (the folder
    of a link's final target), then removes the folders again; it opens a device or a FIFO for
    writing without waiting. A FIFO with no reader yet passes (the write waits for one, as a
    shell's ``> fifo`` does); one with a reader is held open until the write, lest the reader
    see the end of the output before its start.

    Args:
        path: the file (or, with ``folder``, the folder to write files into); ``-`` is
            standard output.
        folder: ``path`` is a folder the writer fills (a run directory, a corpus, pictures).
        make_parents: the writer creates missing folders (a folder is always created).

    Returns:
        None, or the reason, to follow ``cannot write PATH:`` (with the system's reason where
        trying failed, e.g. ``is not writable (Read-only file system)``).
    """
    if folder:
        if _kind(path) not in (None, stat.S_IFDIR):  # one stat: other checkers make and remove it
            return "it is a file, not a folder"
        return _folder_problem(Path(path), "it", make=True)  # a run, a corpus: made by its writer
    target = _target(path)
    if target.kind == "refused":
        return target.why
    if target.kind == "stream":
        return "standard output is closed" if sys.stdout is None or sys.stdout.closed else None
    if target.kind == "descriptor":
        return _descriptor_problem(target.descriptor())
    if target.kind == "device":
        return _device_problem(target.path)
    final = target.path
    if final.is_dir():
        return "it is a directory"
    return _folder_problem(final.parent, f"its directory {final.parent}", make=make_parents)


class _Vanished(Exception):
    """A folder on the way vanished while checking (the message: what to say if it persists)."""


def _folder_problem(directory: Path, name: str, *, make: bool) -> str | None:
    # Checkers running at once (the ranks of a distributed run, all checking train.out_dir)
    # remove the folders they made: one's can vanish under another's probe. Try again.
    for _ in range(10):
        try:
            return _try_folder(directory, name, make=make)
        except _Vanished as vanished:
            problem = str(vanished)
    return problem  # /proc and the like: no folder can be made there, every time


def _kind(path) -> int | None:
    """The file type bits of ``path`` (links followed), or None if it is not there."""
    try:
        return stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        return None


def _try_folder(directory: Path, name: str, *, make: bool) -> str | None:
    existing, missing = directory, []  # the nearest folder (or file) that exists, and the rest
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    kind = _kind(existing)
    if kind != stat.S_IFDIR:
        if kind is not None:
            return f"{existing} is a file, not a folder"
        raise _Vanished(f"{name} is not writable ({os.strerror(errno.ENOENT)})")
    if missing and not make:
        return "its directory does not exist"
    made: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
                made.append(folder)
            except FileExistsError:  # another checker's (or the writer's): not ours to remove
                pass
            except OSError as err:
                problem = (f"{name} cannot be created: {folder.parent} is not writable "
                           f"({_reason(err, folder.parent)})")
                if isinstance(err, FileNotFoundError):  # its parent vanished (or: in /proc)
                    raise _Vanished(problem) from None
                return problem
        try:
            fd, probe = tempfile.mkstemp(dir=directory, prefix=".textvae-probe-")
        except OSError as err:
            problem = f"{name} is not writable ({_reason(err, directory)})"
            if isinstance(err, FileNotFoundError):
                raise _Vanished(problem) from None
            return problem
        os.close(fd)
        with suppress(OSError):
            os.unlink(probe)
        return None
    finally:  # checking leaves nothing behind; the writer makes the folders again
        for folder in reversed(made):
            with suppress(OSError):  # not empty: another checker's probe is in it; it stays
                os.rmdir(folder)


def _reason(err: OSError, folder: Path) -> str:
    reason = err.strerror or str(err)
    if err.errno in (errno.EACCES, errno.EPERM) and os.access(folder, os.W_OK | os.X_OK):
        # access(2) reads the mode bits, which `ls -ld` shows: they are not what refused
        reason += ", though its permissions allow writing"
    return reason


def _descriptor_problem(fd: int) -> str | None:
    import fcntl  # POSIX only, like the descriptor paths themselves

    try:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            return f"descriptor {fd} is open only for reading"
    except OSError:
        return f"descriptor {fd} is not open"
    return None


def _device_problem(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ENXIO and stat.S_ISFIFO(os.stat(path).st_mode):
            return None  # a FIFO with no reader yet: the write will wait for one
        return f"it cannot be opened for writing ({err.strerror or err})"
    if stat.S_ISFIFO(os.fstat(fd).st_mode) and _identity(path) not in _HELD:
        os.set_blocking(fd, True)  # the write at the end waits for a slow reader
        _HELD[_identity(path)] = fd
    else:
        os.close(fd)
    return None
