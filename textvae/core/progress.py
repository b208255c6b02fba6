"""Progress of long work (training, IW-NLL, self-BLEU, streamed generation), shown one way
everywhere: every bar of textvae goes through :class:`Progress` (or :func:`tracked`).

Where standard error goes decides what it shows (:func:`display_mode`):

- a terminal (or a Jupyter kernel): a tqdm bar, redrawn in place;
- anything else (a log file, a pipe): one plain line every N seconds, ``desc: done/total unit
  (percent), rate unit/s, ETA``, then the figures the work adds (loss, tokens/s...); flushed,
  without carriage returns, so that ``textvae train ... > train.log 2>&1`` stays readable;
- ``enabled=False`` (``--no-progress``): nothing.

N is 30 seconds unless the environment variable ``TEXTVAE_PROGRESS_SECONDS`` says otherwise (a
positive number; anything else is an error, not ignored). Only the line mode uses it.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, TypeVar

from textvae.core.errors import InputError

ENV_VAR = "TEXTVAE_PROGRESS_SECONDS"
DEFAULT_SECONDS = 30.0
MODES = ("off", "bar", "lines")
T = TypeVar("T")


def now() -> float:
    """The clock of the lines (tests replace it)."""
    return time.monotonic()


def progress_seconds(environ: Mapping[str, str] | None = None) -> float:
    """The seconds between two progress lines: ``TEXTVAE_PROGRESS_SECONDS`` (a positive
    number), else :data:`DEFAULT_SECONDS`; an empty value counts as unset.

    Raises:
        InputError: the variable holds anything but a positive, finite number.
    """
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{ENV_VAR}={raw!r}: give the seconds between progress lines as a "
                         f"positive number (e.g. 30), or unset it for the default "
                         f"({DEFAULT_SECONDS:g} s)")
    return value


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (tqdm.auto then draws a widget)."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an IPython too old or too odd to ask: no notebook
        return False


def display_mode(enabled: bool, stream: IO[str] | None = None) -> str:
    """``"off"`` when not ``enabled``; ``"bar"`` when ``stream`` (standard error by default) is
    a terminal or this is a Jupyter kernel; else ``"lines"``."""
    if not enabled:
        return "off"
    stream = sys.stderr if stream is None else stream
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        terminal = False
    return "bar" if terminal or _in_notebook() else "lines"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _rate(per_second: float) -> str:
    return f"{per_second:.0f}" if per_second >= 100 else f"{per_second:.1f}" if per_second >= 10 \
        else f"{per_second:.2f}"


class Progress:
    """A count of ``total`` units of work (None: unknown) shown on standard error, as a tqdm bar
    or as lines (the module docstring says which and when). The same calls either way:
    :meth:`update`, :meth:`set_postfix`, :meth:`set_description`, :meth:`clear`, :meth:`close`
    (or ``with``).

    Args:
        total: the units of work, or None.
        desc: what is counted (``"IW-NLL K=500"``); starts every line and the bar.
        unit: the unit's name (``"sent"``).
        enabled: False shows nothing (``--no-progress``).
        initial: units already done (a resumed run); the rate counts from here.
        leave: keep the bar on the terminal when closed.
        mode: ``"off"``, ``"bar"`` or ``"lines"``, overriding :func:`display_mode`.
        stream: where it goes (standard error by default).
        seconds: the seconds between lines, overriding :func:`progress_seconds`.
        clock: the clock of the lines (by default :func:`now`).
    """

    def __init__(self, total: int | None, *, desc: str, unit: str = "it", enabled: bool = True,
                 initial: int = 0, leave: bool = True, mode: str | None = None,
                 stream: IO[str] | None = None, seconds: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.mode = display_mode(enabled, self.stream) if mode is None else mode
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._start_n = initial
        self.postfix: dict[str, Any] = {}
        self._bar: Any = None
        if self.mode == "off":
            return
        # Checked whatever the mode, so that a bad setting fails on a terminal too.
        self.seconds = progress_seconds() if seconds is None else seconds
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {seconds!r}")
        self._clock = now if clock is None else clock
        self._start = self._last = self._clock()
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave,
                             dynamic_ncols=True, file=self.stream)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done; in line mode, write a line if N seconds have passed
        since the last (or the start)."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = self._clock()
            if now - self._last >= self.seconds:
                self._last = now
                self._write(self.line(now))

    def set_postfix(self, figures: Mapping[str, Any]) -> None:
        """The figures shown after the count (the latest replace the earlier)."""
        self.postfix = dict(figures)
        if self._bar is not None:
            self._bar.set_postfix(self.postfix)

    def set_description(self, desc: str) -> None:
        self.desc = desc
        if self._bar is not None:
            self._bar.set_description(desc)

    def clear(self) -> None:
        """Wipe the bar off the terminal before other output (nothing to wipe in line mode)."""
        if self._bar is not None:
            self._bar.clear()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        """The progress line at clock time ``now``."""
        elapsed = now - self._start
        per_second = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        if self.total:
            parts = [f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)",
                     f"{_rate(per_second)} {self.unit}/s"]
            left = max(self.total - self.n, 0)
            parts.append(f"ETA {_duration(left / per_second)}" if per_second > 0 else "ETA ?")
        else:
            parts = [f"{self.n} {self.unit}", f"{_rate(per_second)} {self.unit}/s"]
        parts += [f"{key}={value}" for key, value in self.postfix.items()]
        line = f"{self.desc}: " + ", ".join(parts)
        return " ".join(line.split())  # one line, whatever a figure holds

    def _write(self, line: str) -> None:
        try:  # what the command printed before this line comes before it in a shared log
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        self.stream.write(line + "\n")
        self.stream.flush()


def tracked(items: Iterable[T], *, desc: str, unit: str = "it", enabled: bool = True,
            total: int | None = None, leave: bool = True) -> Iterator[T]:
    """``items``, counted by a :class:`Progress` as the loop over them goes (``total``: their
    number, by default ``len(items)`` where they have one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc=desc, unit=unit, enabled=enabled, leave=leave) as shown:
        for item in items:
            yield item
            shown.update(1)
