"""``textvae image restore|degrade|checkerboard``: thin wrappers over textvae.image.use.restore_run.

- ``restore -c RUN --input A.png [B.png ...] (--out X.png | --out-dir DIR)``: restore degraded
  images with an image-to-image run; ``restore -c RUN --pictures X.png``: rows of degraded /
  restored / clean test images.
- ``degrade -c RUN --out-dir DIR``: test images degraded as the run's test set is (inputs for
  ``restore``), beside their clean originals.
- ``checkerboard RUN_A RUN_B --out pair.png``: prior samples of two convolutional VAEs side by
  side, and their checkerboard scores as JSON.

Registered by :func:`add_restore_commands` from ``textvae.cli.image``.
"""

from __future__ import annotations

import argparse
import json

from textvae.cli.common import (
    UsageError,
    check_output_file,
    check_output_folder,
    positive_int,
    says,
)


def _cmd_restore(args: argparse.Namespace) -> int:
    from textvae.image.use import restore_run

    if bool(args.inputs) == bool(args.pictures):
        raise UsageError("give --input FILE [FILE ...] to restore, or --pictures OUT.png, not both")
    if args.pictures:
        check_output_file(args.pictures, "--pictures", make_parents=True)
        path = restore_run.save_restoration_pictures(args.checkpoint, args.pictures, n=args.n,
                                                     split=args.split, device=args.device)
        print(f"wrote {path}", file=says(args.pictures))
        return 0
    if args.out is not None:
        check_output_file(args.out, "--out", make_parents=True)
    else:
        check_output_folder(args.out_dir, "--out-dir")
    for path in restore_run.restore_files(args.checkpoint, args.inputs, out=args.out,
                                          out_dir=args.out_dir, device=args.device):
        print(f"wrote {path}", file=says(args.out))
    return 0


def _cmd_degrade(args: argparse.Namespace) -> int:
    from textvae.image.use.restore_run import save_degraded_examples

    check_output_folder(args.out_dir, "--out-dir")
    for path in save_degraded_examples(args.checkpoint, args.out_dir, n=args.n, split=args.split,
                                       device=args.device):
        print(f"wrote {path}")
    return 0


def _cmd_checkerboard(args: argparse.Namespace) -> int:
    from textvae.image.use.restore_run import save_checkerboard_pair

    if len(args.runs) < 2:
        raise UsageError("give two runs or more to compare (e.g. upsample resize and transpose)")
    check_output_file(args.out, "--out", make_parents=True)
    path, scores = save_checkerboard_pair(args.runs, args.out, n=args.n, seed=args.seed,
                                          device=args.device)
    print(json.dumps(scores, indent=2), file=says(args.out))  # `--out -`: stdout is the PNG
    print(f"wrote {path}", file=says(args.out))
    return 0


def add_restore_commands(sub) -> None:
    """Add ``restore``, ``degrade`` and ``checkerboard`` to ``textvae image``'s subparsers."""
    restore = sub.add_parser(
        "restore", help="restore degraded images (PNG) with an image-to-image run (data.degrade)")
    restore.add_argument("-c", "--checkpoint", required=True, help="a run directory or checkpoint")
    restore.add_argument("--input", dest="inputs", nargs="+", default=[], metavar="PNG",
                         help="degraded images: 28x28 (noise, mask) or 14x14 (downsample)")
    outputs = restore.add_mutually_exclusive_group()
    outputs.add_argument("--out", help="the restored PNG (one input; - for standard output)")
    outputs.add_argument("--out-dir", help="a folder for one restored PNG per input (same name)")
    restore.add_argument("--pictures", metavar="PNG",
                         help="instead: rows of degraded / restored / clean test images")
    restore.add_argument("--n", type=positive_int, default=10,
                         help="--pictures: images per row (default %(default)s)")
    restore.add_argument("--split", default="test", choices=["valid", "test"])
    restore.add_argument("--device", default="auto")
    restore.set_defaults(func=_cmd_restore)

    degrade = sub.add_parser(
        "degrade", help="write test images degraded as an image-to-image run's are, and originals")
    degrade.add_argument("-c", "--checkpoint", required=True, help="a run directory or checkpoint")
    degrade.add_argument("--out-dir", required=True, help="the folder to write the PNGs into")
    degrade.add_argument("--n", type=positive_int, default=4, help="images (default %(default)s)")
    degrade.add_argument("--split", default="test", choices=["valid", "test"])
    degrade.add_argument("--device", default="auto")
    degrade.set_defaults(func=_cmd_degrade)

    checkerboard = sub.add_parser(
        "checkerboard",
        help="prior samples of conv VAEs side by side, with checkerboard artefact scores")
    checkerboard.add_argument("runs", nargs="+", metavar="RUN",
                              help="run directories or checkpoints (e.g. resize, then transpose)")
    checkerboard.add_argument("--out", required=True,
                              help="the PNG to write (- for standard output)")
    checkerboard.add_argument("--n", type=positive_int, default=36,
                              help="samples per run (default %(default)s)")
    checkerboard.add_argument("--seed", type=int, default=0)
    checkerboard.add_argument("--device", default="auto")
    checkerboard.set_defaults(func=_cmd_checkerboard)
