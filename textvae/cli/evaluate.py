"""``textvae evaluate CHECKPOINT``: the evaluation report (:mod:`textvae.text.evaluate`) as a table
and a JSON file; ``textvae compare A.json B.json``: two such reports paired sentence by sentence."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textvae.cli.common import (
    UsageError,
    check_checkpoint_folder,
    check_output_file,
    count,
    positive_float,
    positive_int,
    says,
    use_free_cores,
)
from textvae.core.errors import TextVAEError
from textvae.text.evaluate.settings import (
    DEFAULT_IW_SAMPLES,
    DEFAULT_MEMORY_MB,
    REVERSE_PPL_STEPS,
)

if TYPE_CHECKING:  # the command loads torch and the model only when it runs
    from textvae.text.api import TextVAE

SPLITS = ("train", "valid", "test")


def add_evaluate_command(commands) -> None:
    """Register ``evaluate`` on the ``textvae`` subparsers."""
    parser = commands.add_parser(
        "evaluate", help="ELBO, IW-NLL, PPL, MI, active units, BLEU and diversity on a split",
        description="Evaluate a checkpoint on a split of its own corpus (the data section of its "
        "config) and write the report as JSON. Definitions: docs/evaluation.md, Conventions.",
    )
    parser.add_argument(
        "checkpoint", metavar="CHECKPOINT",
        help="a run directory (its best checkpoint, else last) or a checkpoint directory",
    )
    parser.add_argument("--split", choices=SPLITS, default="test", help="default test")
    parser.add_argument(
        "--iw-samples", type=positive_int, default=DEFAULT_IW_SAMPLES,
        help=f"importance samples K per sentence for the IW-NLL (default {DEFAULT_IW_SAMPLES})",
    )
    parser.add_argument(
        "--output", metavar="FILE.json",
        help="where to write the JSON report (default CHECKPOINT_DIR/eval-SPLIT-kK.json; - for "
        "standard output, the table then going to standard error)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int,
        help="sentences per encoder pass of the IW-NLL (default 64; on CUDA more, as many as "
        "fill one decoder chunk)",
    )
    parser.add_argument(
        "--memory-mb", type=positive_float,
        help="memory budget in MiB for one decoder chunk's logits (default: half the free "
        f"memory on CUDA, {DEFAULT_MEMORY_MB} on the CPU)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--sentences", type=positive_int, metavar="N",
        help="evaluate a random subset of N sentences of the split, drawn with --seed, instead "
        "of all of it (every metric, MI and active units included, is then over the subset); "
        "for K = 500 runs that would take too long on the whole split",
    )
    parser.add_argument(
        "--diversity-samples", type=positive_int, default=1000,
        help="prior samples for distinct-n and self-BLEU (default 1000)",
    )
    parser.add_argument(
        "--prior", choices=["standard", "aggregate"], default="standard",
        help="where the prior samples' codes come from: N(0, I) (default) or the aggregate "
        "prior (fitted and saved into the checkpoint on first use; docs/generation.md)",
    )
    parser.add_argument(
        "--method", choices=["greedy", "sample"],
        help="how the prior samples are decoded (default greedy for a VAE, ancestral sampling "
        "for an LM)",
    )
    parser.add_argument(
        "--reference-lm", metavar="LM_RUN",
        help="a language model (model.model_type: lm) trained on the same training split with "
        "the same tokenizer: adds the forward perplexity of the prior samples and of the "
        "homotopies' points under it (docs/evaluation.md, Sample quality)",
    )
    parser.add_argument(
        "--reverse-ppl", type=positive_int, metavar="N",
        help="train a small LM on N prior samples, and another on N training sentences, and "
        "report the split's perplexity under each (reverse perplexity; minutes on a CPU; off "
        "unless given)",
    )
    parser.add_argument(
        "--reverse-ppl-steps", type=positive_int, default=REVERSE_PPL_STEPS, metavar="STEPS",
        help=f"optimiser steps of each reverse-perplexity LM (default {REVERSE_PPL_STEPS})",
    )
    parser.add_argument(
        "--train-sentences", type=count, metavar="N",
        help="reconstruct a random subset of N training sentences too, drawn with --seed, to "
        "set memorization beside the split's figures (default: as many as are evaluated; 0: "
        "skip; VAE only)",
    )
    parser.add_argument(
        "--no-quality", action="store_true",
        help="skip the grammar quality report (built-in grammar corpus only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    parser.set_defaults(func=run_evaluate)
    add_compare_command(commands)


def add_compare_command(commands) -> None:
    """Register ``compare`` on the ``textvae`` subparsers."""
    parser = commands.add_parser(
        "compare", help="two evaluation reports of the same sentences: the paired NLL difference",
        description="Pair two `textvae evaluate` reports of the same sentences (the same split, "
        "--sentences and --seed) and print the mean per-sentence difference A - B of their "
        "negative log likelihoods (a VAE's IW-NLL, an LM's exact NLL) with its standard error. "
        "Paired, the difference is known far more precisely than either mean "
        "(docs/evaluation.md).",
    )
    parser.add_argument("report", metavar="A.json", help="a `textvae evaluate` report")
    parser.add_argument("other", metavar="B.json", help="another, of the same sentences")
    parser.set_defaults(func=run_compare)


def run_evaluate(args: argparse.Namespace) -> int:
    """The handler of ``textvae evaluate``."""
    # The output first: a second to refuse it, not the minutes of the evaluation.
    if args.output is not None:
        check_output_file(args.output, "--output", make_parents=True)
    else:
        check_checkpoint_folder(args.checkpoint, "the report into the checkpoint")
    from textvae.core.files import write_json
    from textvae.text.api import load
    from textvae.text.evaluate.report import evaluate_split, format_report

    start = time.perf_counter()  # the whole command, loading the model included
    use_free_cores()
    tv = load(args.checkpoint, device=args.device)
    if hasattr(tv, "label_set"):  # a labelled run: docs/labels.md
        return _evaluate_labelled(args, tv, start)
    reference_lm = None
    if args.reference_lm is not None:  # checked before the minutes of the evaluation
        from textvae.text.evaluate.fluency import load_reference_lm

        reference_lm = load_reference_lm(args.reference_lm, tv,
                                         name=f"--reference-lm {args.reference_lm}")
    report = evaluate_split(
        tv, args.split, sentences=args.sentences, seed=args.seed, samples=args.iw_samples,
        batch_size=args.batch_size, memory_mb=args.memory_mb,
        diversity_samples=args.diversity_samples, quality=not args.no_quality,
        train_reconstruction=args.train_sentences, reference_lm=reference_lm,
        reverse_ppl_samples=args.reverse_ppl or 0, reverse_ppl_steps=args.reverse_ppl_steps,
        sample_prior=args.prior, sample_method=args.method, progress=not args.no_progress,
    )
    report["timing"]["total_seconds"] = time.perf_counter() - start
    settings = report["settings"]
    name = f"eval-{args.split}-k{args.iw_samples}"
    if settings["sentences"] < settings["split_sentences"]:
        name += f"-n{settings['sentences']}-seed{args.seed}"
    output = args.output or _folder(tv) / f"{name}.json"
    write_json(output, report, make_parents=True)
    print(format_report(report), file=says(output))  # stdout holds only the JSON of `--output -`
    print(f"total {report['timing']['total_seconds']:.1f} s; report written to {_shown(output)}",
          file=says(output))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """The handler of ``textvae compare``."""
    from textvae.text.evaluate.paired import format_comparison, read_report

    report, other = read_report(args.report), read_report(args.other)
    print(format_comparison(args.report, report, args.other, other))
    return 0


def _evaluate_labelled(args: argparse.Namespace, tv, start: float) -> int:
    given = [flag for flag, value in (("--reference-lm", args.reference_lm),
                                      ("--reverse-ppl", args.reverse_ppl),
                                      ("--train-sentences", args.train_sentences),
                                      ("--method", args.method),
                                      ("--prior", None if args.prior == "standard" else args.prior))
             if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: a labelled run's evaluation has no such "
                         "figures (docs/labels.md)")
    from textvae.core.files import write_json
    from textvae.text.evaluate.labels import evaluate_labelled, format_labelled_report

    report = evaluate_labelled(tv, args.split, seed=args.seed, log=lambda message: None)
    report["total_seconds"] = time.perf_counter() - start
    output = args.output or tv.path / f"eval-labels-{args.split}.json"
    write_json(output, report, make_parents=True)
    print(format_labelled_report(report), file=says(output))
    print(f"total {report['total_seconds']:.1f} s; report written to {_shown(output)}",
          file=says(output))
    return 0


def _folder(tv: TextVAE) -> Path:
    """The checkpoint folder a model was loaded from, where its reports go by default."""
    if tv.path is None:  # load() records it; only a model built in memory has none
        raise TextVAEError("this model was not loaded from a folder: give --output")
    return tv.path


def _shown(output) -> str:
    return "standard output" if str(output) == "-" else str(output)
