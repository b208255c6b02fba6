"""The ``textvae`` command. Each subcommand is a thin wrapper over the library.

Errors a user can cause (bad config, unreadable corpus, bad checkpoint) are printed as one line,
``textvae: error: ...``, with exit status 2; ``--debug`` shows the traceback instead.
Imports of heavy modules (torch, datasets) happen inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from textvae.errors import TextVAEError


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_config_args(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "--config", required=required, help="YAML config file (see configs/); defaults if omitted"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set train.lr=3e-4 (repeatable)",
    )


def _load_config(args: argparse.Namespace):
    from textvae.config import load_config

    return load_config(args.config, args.overrides)


# ----------------------------------------------------------------------------------------------
# Handlers


def _cmd_data_grammar(args: argparse.Namespace) -> int:
    import time

    from textvae.data.grammar import write_corpus

    start = time.perf_counter()
    counts = write_corpus(args.out, args.n, args.seed)
    elapsed = time.perf_counter() - start
    parts = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"wrote the grammar corpus to {args.out}: {parts} sentences ({elapsed:.1f} s)")
    return 0


def _cmd_data_stats(args: argparse.Namespace) -> int:
    import statistics

    from textvae.data.batching import BucketBatchSampler, padding_fraction
    from textvae.data.corpus import SPLITS, build_corpus

    cfg = _load_config(args)
    splits = tuple(s for s in SPLITS if s in args.splits)
    corpus = build_corpus(cfg.data, splits=splits)
    tok = corpus.tokenizer
    print(
        f"vocabulary: {tok.vocab_size} ids "
        f"(pad={tok.pad_id}, unk={tok.unk_id}, bos={tok.bos_id}, eos={tok.eos_id})"
    )
    batch_size = cfg.train.batch_size
    for split in splits:
        lengths = [len(x) + 1 for x in corpus.ids[split]]  # targets: words + end token
        bucketed = BucketBatchSampler(lengths, batch_size, seed=cfg.train.seed).batches(0)
        shuffled = BucketBatchSampler(lengths, batch_size, seed=cfg.train.seed, bucketed=False)
        print(
            f"{split}: {len(lengths)} sentences, {sum(lengths)} target tokens, "
            f"length min/mean/max {min(lengths) - 1}/{statistics.mean(lengths) - 1:.1f}/"
            f"{max(lengths) - 1} words; padded positions in batches of {batch_size}: "
            f"bucketed {padding_fraction(bucketed, lengths):.2%}, "
            f"random {padding_fraction(shuffled.batches(0), lengths):.2%}"
        )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from textvae.train import train

    cfg = _load_config(args)
    if args.device is not None:
        cfg.train.device = args.device
    result = train(cfg, resume=args.resume, progress=not args.no_progress)
    return 0 if not result.stopped.startswith("received") else 130


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from textvae.config import to_dict

    print(yaml.safe_dump(to_dict(_load_config(args)), sort_keys=False), end="")
    return 0


# ----------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textvae",
        description="Variational autoencoders over text (Bowman et al. 2016), with image VAEs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = commands.add_parser("data", help="corpora: generate the built-in grammar corpus, stats")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    grammar = data_commands.add_parser(
        "grammar", help="write the built-in grammar corpus (train/valid/test text and labels)"
    )
    grammar.add_argument("--n", type=positive_int, default=50000, help="sentences in all (default 50000)")
    grammar.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    grammar.add_argument("--out", default="data/grammar", help="output directory")
    grammar.set_defaults(func=_cmd_data_grammar)
    stats = data_commands.add_parser(
        "stats", help="read a config's corpus, build its tokenizer, print sizes and padding"
    )
    _add_config_args(stats)
    stats.add_argument(
        "--splits", nargs="+", default=["train", "valid"], choices=["train", "valid", "test"]
    )
    stats.set_defaults(func=_cmd_data_stats)

    train = commands.add_parser("train", help="train a sentence VAE or LM baseline from a config")
    _add_config_args(train)
    train.add_argument("--device", help="override train.device: auto, cpu, cuda, cuda:N")
    train.add_argument("--resume", action="store_true", help="continue the run in train.out_dir")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)

    config = commands.add_parser("config", help="print the resolved config (defaults + file + --set)")
    _add_config_args(config)
    config.set_defaults(func=_cmd_config)
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
