"""``textvae data grammar|stats``: write the built-in grammar corpus; corpus statistics."""

from __future__ import annotations

import argparse

from textvae.cli.common import UsageError, add_config_args, check_output_folder, positive_int


def _cmd_data_grammar(args: argparse.Namespace) -> int:
    import time

    from textvae.text.data.grammar import write_corpus

    check_output_folder(args.out, "the grammar corpus to --out")
    start = time.perf_counter()
    try:
        counts = write_corpus(args.out, args.n, args.seed, size_name="--n")
    except OSError as err:  # each file is written atomically, so none is left half-written
        raise UsageError(f"cannot write the grammar corpus to --out {args.out}: {err}") from None
    elapsed = time.perf_counter() - start
    parts = ", ".join(f"{split} {count}" for split, count in counts.items())
    print(f"wrote the grammar corpus to {args.out}: {parts} sentences ({elapsed:.1f} s)")
    return 0


def _cmd_data_stats(args: argparse.Namespace) -> int:
    import statistics

    from textvae.text.data.batching import BucketBatchSampler, padding_fraction
    from textvae.text.run.config import load_config
    from textvae.text.run.corpus import SPLITS, build_corpus

    cfg = load_config(args.config, args.overrides)
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


def add_data_commands(commands) -> None:
    """Register ``data`` and its actions on the ``textvae`` subparsers."""
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
    add_config_args(stats)
    stats.add_argument(
        "--splits", nargs="+", default=["train", "valid"], choices=["train", "valid", "test"]
    )
    stats.set_defaults(func=_cmd_data_stats)
