"""``textvae plot RUN`` and ``textvae report RUN --out report.html``: thin wrappers over
:mod:`textvae.text.viz` (docs/pictures.md).

Heavy imports (torch, matplotlib) happen inside the handlers, so ``textvae --help`` stays
instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from textvae.cli.common import (
    UsageError,
    check_output_file,
    check_output_folder,
    count,
    positive_int,
    says,
)

DEFAULT_SENTENCES = 2000  # textvae.text.viz.run.DEFAULT_SENTENCES, kept here torch-free


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def run_plot(args: argparse.Namespace) -> int:
    """The handler of ``textvae plot``."""
    check_output_folder(args.out, "--out")  # before loading torch and the model
    from textvae.text.viz.run import plot_run, run_directory

    out = args.out
    if out is None:
        run_dir = run_directory(args.run)
        if run_dir is None:
            raise UsageError(f"no run directory (with metrics.jsonl) around {args.run}; "
                             "say where the pictures go with --out DIR")
        out = run_dir / "plots"
        check_output_folder(out, "the pictures to")
    result = plot_run(args.run, out, sentences=args.sentences, seed=args.seed,
                      device=args.device, log=_log)
    for note in result.notes:
        print(f"note: {note}")
    for path in result.paths.values():
        print(f"wrote {path}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """The handler of ``textvae report``."""
    check_output_file(args.out, "--out")
    if args.steps < 2:
        raise UsageError(f"--steps must be >= 2 (both ends of a path), got {args.steps}")
    if not Path(args.run).exists():
        if os.path.lexists(args.run):  # a symbolic link loop, or a link to nothing: say which
            from textvae.core.checkpoint import check_checkpoint_exists

            check_checkpoint_exists(args.run)
        raise UsageError(f"no run or checkpoint at {args.run}")
    from textvae.text.viz.page import write_report

    path = write_report(
        args.run, args.out, sentences=args.sentences, samples=args.samples,
        reconstructions=args.reconstructions, interpolations=args.interpolations,
        steps=args.steps, seed=args.seed, device=args.device, evaluations=args.evaluation,
        log=_log,
    )
    print(f"wrote {path}", file=says(args.out))  # `--out -`: standard output is the page
    return 0


def _shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN",
                        help="a run directory (its best checkpoint, else last) or a checkpoint")
    parser.add_argument(
        "--sentences", type=positive_int, default=DEFAULT_SENTENCES, metavar="N",
        help="validation sentences encoded for the latent pictures, a subset drawn with --seed "
             "(default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")


def add_report_commands(commands) -> None:
    """Register ``plot`` and ``report`` on the ``textvae`` subparsers."""
    plot = commands.add_parser(
        "plot", help="PNGs of a text run: curves, KL vs KL weight, latent PCA, KL per dimension",
        description="Write the pictures of a text run: its loss curves and the KL term against "
        "the KL weight (from metrics.jsonl), the PCA of validation posterior means (coloured by "
        "the grammar corpus's factors) and the KL per latent dimension. An LM baseline gets "
        "its curves only.",
    )
    _shared(plot)
    plot.add_argument("--out", metavar="DIR", help="where the PNGs go (default RUN/plots)")
    plot.set_defaults(func=run_plot)

    report = commands.add_parser(
        "report", help="one self-contained HTML page about a text run",
        description="Write one HTML file (images inline, no external resources) with the run's "
        "config, validation figures, `textvae evaluate` figures, pictures, prior samples, "
        "reconstructions and interpolations.",
    )
    _shared(report)
    report.add_argument("--out", required=True, metavar="FILE.html",
                        help="the HTML file to write (- for standard output)")
    report.add_argument("--samples", type=count, default=10, help="prior samples (default 10)")
    report.add_argument("--reconstructions", type=count, default=8,
                        help="validation sentences reconstructed (default 8)")
    report.add_argument("--interpolations", type=count, default=2,
                        help="interpolation paths (default 2)")
    report.add_argument("--steps", type=positive_int, default=7,
                        help="points on each interpolation path, ends included (default 7)")
    report.add_argument(
        "--evaluation", action="append", metavar="EVAL.json",
        help="a `textvae evaluate` report to show (repeatable; default: every eval-*.json "
             "that `textvae evaluate` wrote into the checkpoint's folder)",
    )
    report.set_defaults(func=run_report)
