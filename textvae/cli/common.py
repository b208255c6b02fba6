"""What every ``textvae`` subcommand shares: argument types, the config arguments, the training
command's arguments and exit status, and the usage error.

Imports of heavy modules (torch, datasets) happen inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Callable
from typing import Any

from textvae.errors import TextVAEError


class UsageError(TextVAEError):
    """Bad command-line input (missing or extra sentences, an unwritable output path, ...)."""


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
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


def check_output_dir(path: str | None, flag: str) -> None:
    """Refuse an output file whose directory does not exist, before the minutes of work whose
    result it would hold, not after."""
    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"cannot write {flag} {path}: its directory does not exist")


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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_training(args: argparse.Namespace, config: Any, train: Callable[..., Any]) -> tuple[int, Any]:
    """The one training-command handler: apply ``--device``, train (or resume), and give the
    exit status with the result. Every checkpoint records the command line (``meta["command"]``,
    :func:`command_line`), which the model card of a shared model prints.

    A run stopped by a signal exits with the shell's convention for it, 128 + the signal's
    number (SIGINT 130, SIGTERM 143); the checkpoint is saved either way. Otherwise 0.
    """
    if args.device is not None:
        config.train.device = args.device
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
