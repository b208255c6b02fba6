"""Long command outputs written as they are made: a chunk of lines at a time, flushed, with
their progress on stderr, and a quiet end when the reader goes away (``| head``)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator

from textvae.core.progress import Progress


def stream_lines(lines: Iterator[str], total: int, chunk: int, *, progress: bool) -> int:
    """Write ``total`` lines to stdout as they are decoded, a chunk (one decoder call) at a time,
    flushing after each, so that the first arrive at once and memory holds one chunk. When
    there is more than one chunk, stderr shows their progress (:mod:`textvae.core.progress`): a tqdm
    bar on a terminal (cleared while a chunk is written, so it never splits a line on a shared
    terminal), else a line every N seconds.

    Returns:
        0; or 141 (128 + SIGPIPE, the shell's convention) when the reader has gone, e.g.
        ``textvae sample --n 1000000 | head``, which ends the work quietly.
    """
    bar = Progress(total, desc="generating", unit="sent", enabled=progress and total > chunk)
    out, buffer = sys.stdout, []
    try:
        for line in lines:
            buffer.append(line + "\n")
            if len(buffer) == chunk:
                _write_chunk(out, buffer, bar)
        _write_chunk(out, buffer, bar)
    except BrokenPipeError:
        silence_stdout()
        return 141
    finally:
        bar.close()
    return 0


def _write_chunk(out, buffer: list[str], bar: Progress) -> None:
    if not buffer:
        return
    bar.clear()
    out.write("".join(buffer))
    out.flush()
    bar.update(len(buffer))
    buffer.clear()


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so that Python's own flush at exit does
    not fail again with a traceback."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
