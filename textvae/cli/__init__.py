"""The ``textvae`` command. Each subcommand is a thin wrapper over the library, registered by
its module: :mod:`.data`, :mod:`.train`, :mod:`.generate`, :mod:`.evaluate`, :mod:`.bench` and
:mod:`.image`; what they share is :mod:`.common`.

Errors a user can cause (bad config, unreadable corpus, bad checkpoint) are printed as one line,
``textvae: error: ...``, with exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from textvae.cli.bench import add_bench_command
from textvae.cli.data import add_data_commands
from textvae.cli.evaluate import add_evaluate_command
from textvae.cli.generate import add_generation_commands
from textvae.cli.image import add_image_commands
from textvae.cli.report import add_report_commands
from textvae.cli.share import add_sharing_commands
from textvae.cli.train import add_train_commands
from textvae.errors import TextVAEError
from textvae.version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textvae",
        description="Variational autoencoders over text (Bowman et al. 2016), with image VAEs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"textvae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_data_commands(commands)
    add_train_commands(commands)
    add_generation_commands(commands)
    add_bench_command(commands)
    add_evaluate_command(commands)
    add_image_commands(commands)
    add_report_commands(commands)
    add_sharing_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textvae`` console script and ``python -m textvae``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except TextVAEError as err:
        if args.debug:
            raise
        print(f"textvae: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
