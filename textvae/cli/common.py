"""What every ``textvae`` subcommand shares: argument types, the config arguments, the training
command's arguments and exit status, the usage error, the output checks every writing command
makes before its work (:func:`check_output_file`, :func:`check_output_folder`), and the
argument parser whose errors are one line (:class:`Parser`).

Imports of heavy modules (torch, datasets) happen inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from textvae.core.errors import TextVAEError
from textvae.core.files import output_problem, writes_to_stdout


class UsageError(TextVAEError):
    """Bad command-line input (missing or extra sentences, an unwritable output path, ...)."""


class Parser(argparse.ArgumentParser):
    """The ``textvae`` parser and, through ``add_subparsers``, every subcommand's: an argument
    error is one line, ``textvae: error: <message> (see textvae COMMAND --help)``, exit 2, like
    every other user error (argparse's own prints the usage lines and ``textvae COMMAND:
    error:``)."""

    def error(self, message: str, prog: str | None = None) -> NoReturn:
        self.exit(2, f"textvae: error: {message} (see {prog or self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, "_unrecognized_by"):
            # the innermost command returns first: its help is the one to see
            parsed._unrecognized_by = self.prog
        return parsed, extras

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}", parsed._unrecognized_by)
        return parsed


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def count(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a positive number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def check_output_file(path: str | os.PathLike[str] | None, flag: str, *,
                      make_parents: bool = False) -> None:
    """Refuse an output file that cannot be written, before the minutes of work whose result
    it would hold, not after: a directory, a directory that does not exist (unless the writer
    makes it, ``make_parents``) or cannot be created, one where a probe file cannot be made, a
    device that cannot be opened for writing (:func:`textvae.core.files.output_problem`, which tries
    instead of asking ``os.access``). ``flag`` names the output in the message (``--out``);
    None (no output asked for) and ``-`` (standard output) pass.

    Raises:
        UsageError: ``cannot write FLAG PATH: <why>``.
    """
    _check(path, flag, folder=False, make_parents=make_parents)


def check_output_folder(path: str | os.PathLike[str] | None, flag: str) -> None:
    """Refuse an output folder that cannot be filled, before any work: a file, or a folder
    that cannot be created or take a probe file (a missing one is made by its writer; the
    check makes it and removes it again). ``flag``
    names it in the message (``train.out_dir``); None passes.

    Raises:
        UsageError: ``cannot write FLAG PATH: <why>``.
    """
    _check(path, flag, folder=True, make_parents=False)  # a folder is always made


def check_checkpoint_folder(checkpoint: str | os.PathLike[str], flag: str) -> None:
    """:func:`check_output_folder` for the checkpoint directory that ``checkpoint`` names (a run
    directory names its ``best``, else ``last``), for a command that writes into it; a missing
    checkpoint is left to the loader, whose error says what to do."""
    if os.path.isdir(checkpoint):
        from textvae.core.checkpoint import resolve_checkpoint_dir  # torch: here, not at --help

        check_output_folder(resolve_checkpoint_dir(checkpoint), flag)


def says(out: str | os.PathLike[str] | None) -> TextIO:
    """Where a command says what it wrote (``wrote FILE``, a table beside a JSON file):
    standard output, or standard error when the output itself goes to standard output
    (``--out -``, ``/dev/stdout``), so that it holds nothing but the output."""
    return sys.stderr if out is not None and writes_to_stdout(out) else sys.stdout


def _check(path, flag: str, *, folder: bool, make_parents: bool) -> None:
    if path is None:
        return
    problem = output_problem(path, folder=folder, make_parents=make_parents)
    if problem is not None:
        raise UsageError(f"cannot write {flag} {path}: {problem}")


def add_config_args(
    parser: argparse.ArgumentParser, *, required: bool = False, default: str | None = None,
    help: str = "a shipped config by name (textvae config --list) or a YAML file; defaults if omitted",
) -> None:
    """``--config FILE`` and any number of ``--set key.path=value`` overrides."""
    parser.add_argument("--config", required=required, default=default, help=help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.lr=3e-4 (repeatable)",
    )


def add_train_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of every training command (text and image)."""
    add_config_args(parser)
    parser.add_argument("--device", help="override train.device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--resume", action="store_true", help="continue the run in train.out_dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or lines")


def run_training(args: argparse.Namespace, config: Any, train: Callable[..., Any]) -> tuple[int, Any]:
    """The one training-command handler: apply ``--device``, check ``train.out_dir`` (before
    the corpus is read), train (or resume), and give the exit status with the result. Every
    checkpoint records the command line (``meta["command"]``, :func:`command_line`), which the
    model card of a shared model prints.

    A run stopped by a signal exits with the shell's convention for it, 128 + the signal's
    number (SIGINT 130, SIGTERM 143); the checkpoint is saved either way. Otherwise 0.
    """
    if args.device is not None:
        config.train.device = args.device
    check_output_folder(config.train.out_dir, "train.out_dir")  # before the corpus is read
    result = train(config, resume=args.resume, progress=not args.no_progress,
                   meta_extra={"command": command_line()})
    if result.stopped.startswith("received"):
        return 128 + signal.Signals[result.stopped.split()[-1]].value, result
    return 0, result


def command_line(argv: list[str] | None = None) -> str:
    """The command this process runs, as a shell would take it: ``textvae`` and its arguments
    (``sys.argv[1:]``), quoted with :func:`shlex.join` (``python -m textvae`` and torchrun
    launches read the same)."""
    return shlex.join(["textvae", *(sys.argv[1:] if argv is None else argv)])


def use_free_cores() -> None:
    """For a long command (evaluate, quality, fit-prior, export): compute with one thread per
    core that other work leaves free, and say so on stderr when that is fewer than torch's
    default (oversubscribed threads on a busy machine can run ten times slower). OMP_NUM_THREADS,
    when set, is respected. Training chooses its own (``train.threads``)."""
    import torch

    from textvae.core.device import choose_threads

    threads, note = choose_threads(None)
    if threads < torch.get_num_threads():
        torch.set_num_threads(threads)
        print(note.replace("--set train.threads=N", "OMP_NUM_THREADS=N"), file=sys.stderr)
