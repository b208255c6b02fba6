"""``textvae sweep --train FILE``: a reference LM and a grid of VAEs across the rate dial on the
user's corpus, trained one after another within a time budget, each evaluated, pictured and
tabled, with the configs recommended for interpolation and for likelihood
(:mod:`textvae.text.sweep`; docs/training.md, "Sweeping the rate on your corpus")."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from textvae.cli.common import (
    UsageError,
    add_config_args,
    check_output_folder,
    command_line,
    count,
    positive_float,
    positive_int,
    use_free_cores,
)

DEFAULT_RATES = "5,15,40"
DEFAULT_DELETIONS = "0,0.3"
DEFAULT_MINUTES = 70.0
DEFAULT_IW_SAMPLES = 100
DEFAULT_EVAL_SENTENCES = 1000


def _numbers(parse):
    """An argparse type from a :mod:`textvae.text.sweep.grid` parser (its ValueError becomes
    the one-line usage error)."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return convert


def add_sweep_command(commands) -> None:
    """Register ``sweep`` on the ``textvae`` subparsers."""
    from textvae.text.sweep.grid import parse_deletions, parse_rates  # torch-free

    parser = commands.add_parser(
        "sweep", help="train an LM and VAEs across the rate dial on your text, evaluate and "
        "picture them, and recommend a config for interpolation and one for likelihood",
        description="Train, one after another, a reference LM and a VAE for every rate "
        "(train.kl.kind: target) and word-deletion probability (train.word_deletion) on your "
        "sentences; evaluate each on the validation split; write OUT/sweep.json, "
        "OUT/rate_distortion.png, OUT/report.html and OUT/recommended/{interpolation,"
        "likelihood}.yaml. --minutes is the training budget of the whole sweep, split evenly "
        "across the points; evaluation takes time on top. Rerunning the same command continues "
        "an interrupted sweep. docs/training.md, 'Sweeping the rate on your corpus'.",
    )
    parser.add_argument("--train", metavar="FILE", required=True,
                        help="your training sentences, one per line")
    parser.add_argument("--valid", metavar="FILE",
                        help="validation sentences (default: hold out the recipe's "
                             "data.valid_fraction of --train)")
    add_config_args(parser, help="the base recipe of every point: a shipped config by name or "
                                 "a YAML file (default: the shipped `text` recipe)")
    parser.add_argument("--out", metavar="DIR",
                        help="the sweep's folder (default runs/sweep_<FILE's name>)")
    parser.add_argument("--minutes", type=positive_float, default=DEFAULT_MINUTES,
                        help=f"training budget of the whole sweep in minutes, split evenly "
                             f"across the points (default {DEFAULT_MINUTES:g}); evaluation "
                             "takes time on top")
    parser.add_argument("--rates", type=_numbers(parse_rates), default=parse_rates(DEFAULT_RATES),
                        metavar="R1,R2,...",
                        help=f"KL set points in nats per sentence (default {DEFAULT_RATES})")
    parser.add_argument("--deletion", type=_numbers(parse_deletions),
                        default=parse_deletions(DEFAULT_DELETIONS), metavar="P1,P2,...",
                        help="encoder-input word-deletion probabilities, each in [0, 1) "
                             f"(default {DEFAULT_DELETIONS})")
    parser.add_argument("--iw-samples", type=positive_int, default=DEFAULT_IW_SAMPLES,
                        help=f"importance samples K of the IW-NLL (default {DEFAULT_IW_SAMPLES})")
    parser.add_argument("--eval-sentences", type=count, default=DEFAULT_EVAL_SENTENCES,
                        metavar="N",
                        help="evaluate a seeded subset of N validation sentences, the same for "
                             f"every point (default {DEFAULT_EVAL_SENTENCES}; 0: all of them)")
    parser.add_argument("--diversity-samples", type=positive_int, default=1000,
                        help="prior samples for fluency, distinct-n and self-BLEU (default 1000)")
    parser.add_argument("--reverse-ppl", type=count, default=0, metavar="N",
                        help="add reverse perplexity with LMs trained on N samples (minutes per "
                             "point; default 0: off)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the evaluation: its sentences and samples (default 0)")
    parser.add_argument("--prior", choices=["standard", "aggregate"], default="standard",
                        help="where the VAEs' prior samples come from: N(0, I) (default) or "
                             "each point's aggregate prior (fitted once per point)")
    parser.add_argument("--method", choices=["greedy", "sample"], default="greedy",
                        help="how the VAEs' prior samples are decoded (default greedy)")
    parser.add_argument("--device", help="override train.device: auto, cpu, cuda, cuda:N")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    parser.set_defaults(func=run_sweep_command)


def run_sweep_command(args: argparse.Namespace) -> int:
    """The handler of ``textvae sweep``: every check before any training, then the points,
    then the outputs."""
    from textvae.core.config_files import apply_overrides, read_yaml
    from textvae.text.data.sources import read_text_file
    from textvae.text.sweep.grid import SweepSpec, check_overrides

    for flag, path in (("--train", args.train), ("--valid", args.valid)):
        if path is not None and not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: no such file")
    check_overrides(args.overrides)
    out = Path(args.out or os.path.join("runs", f"sweep_{Path(args.train).stem or 'text'}"))
    check_output_folder(out, "--out")
    for path in (args.train, args.valid):
        if path is not None:
            read_text_file(path)  # an empty or undecodable corpus fails here, not in training
    base = apply_overrides(read_yaml(args.config or "text"), list(args.overrides))

    from textvae.text.sweep.rows import format_table
    from textvae.text.sweep.run import (
        file_digest,
        finish_sweep,
        plan_lines,
        prepare_sweep,
        run_sweep,
    )

    files = {"train": args.train, "valid": args.valid}
    spec = SweepSpec(
        train_path=str(Path(args.train).resolve()),
        valid_path=None if args.valid is None else str(Path(args.valid).resolve()),
        digests={split: file_digest(path) for split, path in files.items() if path is not None},
        config=args.config, overrides=list(args.overrides), base=base,
        rates=tuple(args.rates), deletions=tuple(args.deletion), minutes=args.minutes,
        iw_samples=args.iw_samples, eval_sentences=args.eval_sentences or None,
        diversity_samples=args.diversity_samples, reverse_ppl=args.reverse_ppl, seed=args.seed,
        prior=args.prior, method=args.method,
    )
    configs = prepare_sweep(spec, out)  # a folder of another sweep, a bad config: refused here
    for line in plan_lines(spec):
        print(line, flush=True)
    use_free_cores()
    rows, stopped = run_sweep(spec, out, configs, device=args.device,
                              progress=not args.no_progress,
                              log=lambda message: print(message, flush=True),
                              meta_extra={"command": command_line()})
    if stopped is not None:
        print(f"textvae: the sweep stopped ({stopped}); rerun the same command to continue it",
              file=sys.stderr)
        return 128 + signal.Signals[stopped.split()[-1]].value
    choices = finish_sweep(spec, out, rows, title=f"textvae sweep: {Path(args.train).name}")
    print()
    print(format_table(rows))
    print()
    for job, choice in choices.items():
        print(f"recommended for {job}: {choice.name} ({choice.reason})")
        if choice.warning:
            print(f"textvae: warning: {choice.warning}", file=sys.stderr)
    for name in ("sweep.json", "rate_distortion.png", "report.html",
                 *(f"recommended/{job}.yaml" for job in choices)):
        print(f"wrote {out / name}")
    return 0
