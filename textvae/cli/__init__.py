"""The ``textvae`` command. Each subcommand is a thin wrapper over the library, registered by
its module: :mod:`.data`, :mod:`.train`, :mod:`.sweep`, :mod:`.generate`, :mod:`.evaluate`,
:mod:`.bench` and :mod:`.image`; what they share is :mod:`.common`.

Errors a user can cause (bad arguments, bad config, unreadable corpus, bad checkpoint, an output
path that cannot be written) are printed as one line, ``textvae: error: ...``, with exit status
2, and so is an I/O error no command caught (``cannot write PATH: No space left on device``);
``--debug`` shows the traceback instead. Ctrl-C prints ``textvae: interrupted`` and exits 130
(training saves a checkpoint first); every file is written atomically, so none is left half
written.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence

from textvae.cli.bench import add_bench_command
from textvae.cli.common import Parser
from textvae.cli.data import add_data_commands
from textvae.cli.device import check_device_flag
from textvae.cli.evaluate import add_evaluate_command
from textvae.cli.generate import add_generation_commands
from textvae.cli.image import add_image_commands
from textvae.cli.labels import add_label_commands
from textvae.cli.report import add_report_commands
from textvae.cli.share import add_sharing_commands
from textvae.cli.stream import silence_stdout
from textvae.cli.sweep import add_sweep_command
from textvae.cli.train import add_train_commands
from textvae.core.errors import TextVAEError
from textvae.core.progress import progress_seconds
from textvae.core.version import __version__


def build_parser() -> Parser:
    parser = Parser(
        prog="textvae",
        description="Variational autoencoders over text (Bowman et al. 2016), with image VAEs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"textvae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_data_commands(commands)
    add_train_commands(commands)
    add_sweep_command(commands)
    add_generation_commands(commands)
    add_label_commands(commands)
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
        check_device_flag(args)  # --device names itself when this machine lacks it
        if getattr(args, "no_progress", None) is False:  # a command that shows progress
            progress_seconds()  # a bad TEXTVAE_PROGRESS_SECONDS fails before any work
        return args.func(args)
    except TextVAEError as err:
        if args.debug:
            raise
        print(f"textvae: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("textvae: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, the shell's convention
    except BrokenPipeError:  # the reader went away (`| head`, `| grep -q`): a quiet end
        silence_stdout()
        return 141  # 128 + SIGPIPE, the shell's convention
    except OSError as err:  # the last resort: an I/O error no command turned into a message
        if args.debug:
            raise
        print(f"textvae: error: {io_error_message(err)}", file=sys.stderr)
        return 2


# Errors that only writing causes; any other names the path as read or written.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def io_error_message(err: OSError) -> str:
    """One line for an OSError: ``cannot write PATH: No space left on device``."""
    reason = err.strerror or str(err)
    path = err.filename2 if err.filename2 is not None else err.filename  # a rename's target
    if path is None:
        return f"I/O error: {reason}"
    verb = "write" if err.errno in _WRITE_ERRNOS else "read or write"
    return f"cannot {verb} {path}: {reason}"


if __name__ == "__main__":
    raise SystemExit(main())
