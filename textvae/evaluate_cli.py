"""``textvae evaluate CHECKPOINT``: the evaluation report (:mod:`textvae.evaluate`) as a table and
a JSON file.

Kept out of :mod:`textvae.cli`, which registers it with one call, and importing nothing heavy at
module level, so ``textvae --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from textvae.errors import TextVAEError

SPLITS = ("train", "valid", "test")


def _positive_int(text: str) -> int:
    from textvae.cli import positive_int

    return positive_int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def add_evaluate_command(commands) -> None:
    """Register ``evaluate`` on the ``textvae`` subparsers."""
    parser = commands.add_parser(
        "evaluate", help="ELBO, IW-NLL, PPL, MI, active units, BLEU and diversity on a split",
        description="Evaluate a checkpoint on a split of its own corpus (the data section of its "
        "config) and write the report as JSON. Definitions: the Conventions section of the README.",
    )
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT",
        help="a run directory (its best checkpoint, else last) or a checkpoint directory",
    )
    parser.add_argument("--split", choices=SPLITS, default="test", help="default test")
    parser.add_argument(
        "--iw-samples", type=_positive_int, default=500,
        help="importance samples K per sentence for the IW-NLL (default 500)",
    )
    parser.add_argument(
        "--output", metavar="FILE.json",
        help="where to write the JSON report (default CHECKPOINT_DIR/eval-SPLIT-kK.json)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=64,
        help="sentences per encoder pass (default 64)",
    )
    parser.add_argument(
        "--memory-mb", type=_positive_float, default=256,
        help="memory budget for one decoder chunk's logits (default 256)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--sentences", type=_positive_int, metavar="N",
        help="evaluate a random subset of N sentences of the split, drawn with --seed, instead "
        "of all of it (every metric, MI and active units included, is then over the subset); "
        "for K = 500 runs that would take too long on the whole split",
    )
    parser.add_argument(
        "--diversity-samples", type=_positive_int, default=1000,
        help="prior samples for distinct-n and self-BLEU (default 1000)",
    )
    parser.add_argument(
        "--no-quality", action="store_true",
        help="skip the grammar quality report (built-in grammar corpus only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_evaluate)


def subset_indices(total: int, n: int, seed: int) -> list[int]:
    """``n`` distinct indices of ``range(total)``, drawn at random with ``seed`` and sorted, so
    the same (total, n, seed) picks the same sentences for every model (the LM baseline and the
    VAEs are compared on one subset)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(total, generator=generator)[:n].tolist())


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place, so a crash never
    leaves a half-written report."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it a normal file's mode
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as err:
        raise TextVAEError(f"cannot write the report to {path}: {err}") from None


def run_evaluate(args: argparse.Namespace) -> int:
    """The handler of ``textvae evaluate``."""
    from textvae.api import load
    from textvae.data.corpus import build_corpus
    from textvae.evaluate import evaluate, format_report

    start = time.perf_counter()
    tv = load(args.checkpoint, device=args.device)
    corpus = build_corpus(tv.config.data, tokenizer=tv.tokenizer, splits=(args.split,))
    ids = corpus.ids[args.split]
    empty = [i + 1 for i, x in enumerate(ids) if not x]
    if empty:
        raise TextVAEError(
            f"{len(empty)} sentences of the {args.split} split tokenize to nothing "
            f"(first: line {empty[0]}); evaluation never drops sentences silently"
        )
    total = len(ids)
    picked = list(range(total))
    if args.sentences is not None and args.sentences < total:
        picked = subset_indices(total, args.sentences, args.seed)
        ids = [ids[i] for i in picked]
    report = evaluate(
        tv, ids, split=args.split, samples=args.iw_samples, batch_size=args.batch_size,
        memory_mb=args.memory_mb, seed=args.seed, diversity_samples=args.diversity_samples,
        quality=not args.no_quality, progress=not args.no_progress,
    )
    report["settings"]["split_sentences"] = total
    report["per_sentence"]["split_index"] = picked
    report["timing"]["total_seconds"] = time.perf_counter() - start
    name = f"eval-{args.split}-k{args.iw_samples}"
    if len(ids) < total:
        name += f"-n{len(ids)}-seed{args.seed}"
    output = args.output or tv.path / f"{name}.json"
    write_json_atomic(output, report)
    print(format_report(report))
    print(f"total {report['timing']['total_seconds']:.1f} s; report written to {output}")
    return 0
