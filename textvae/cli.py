"""The ``textvae`` command. Each subcommand is a thin wrapper over the library.

Errors a user can cause (bad config, unreadable corpus, bad checkpoint) are printed as one line,
``textvae: error: ...``, with exit status 2; ``--debug`` shows the traceback instead.
Imports of heavy modules (torch, datasets) happen inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from textvae.errors import TextVAEError
from textvae.evaluate_cli import add_evaluate_command
from textvae.image.cli import add_image_commands


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_config_args(
    parser: argparse.ArgumentParser, *, required: bool = False, default: str | None = None,
    help: str = "YAML config file (see configs/); defaults if omitted",
) -> None:
    parser.add_argument("--config", required=required, default=default, help=help)
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
    try:
        counts = write_corpus(args.out, args.n, args.seed)
    except OSError as err:  # each file is written atomically, so none is left half-written
        raise UsageError(f"cannot write the grammar corpus to --out {args.out}: {err}") from None
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
    import signal

    from textvae.train import train

    cfg = _load_config(args)
    if args.device is not None:
        cfg.train.device = args.device
    result = train(cfg, resume=args.resume, progress=not args.no_progress)
    if result.stopped.startswith("received"):
        # The shell's convention for a process ended by a signal: 128 + its number (SIGINT 130,
        # SIGTERM 143). The checkpoint is saved either way.
        return 128 + signal.Signals[result.stopped.split()[-1]].value
    # Under torchrun only rank 0 shows samples (the others have no run directory of their own).
    if cfg.model.model_type == "vae" and os.environ.get("RANK", "0") == "0":
        _show_samples(result.run_dir, cfg)
    return 0


def _show_samples(run_dir, cfg) -> None:
    """End a training run with a few prior samples and one interpolation from its best model."""
    from textvae.api import load
    from textvae.data.corpus import load_sentences

    tv = load(run_dir, device=cfg.train.device)
    print("samples from N(0, I):")
    for text in tv.sample(3, seed=0):
        print(f"  {text}")
    valid = load_sentences(cfg.data, "valid").sentences
    if len(valid) >= 2:
        print(f"interpolation from '{valid[0]}' to '{valid[1]}':")
        for text in tv.interpolate(valid[0], valid[1], steps=5):
            print(f"  {text}")


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from textvae.config import to_dict

    print(yaml.safe_dump(to_dict(_load_config(args)), sort_keys=False), end="")
    return 0


# ----------------------------------------------------------------------------------------------
# Generation handlers (thin wrappers over textvae.api; torch is imported only inside them)


class UsageError(TextVAEError):
    """Bad command-line input for a generation command (missing or extra sentences, ...)."""


def _read_sentences(args: argparse.Namespace, count: int | None = None) -> list[str]:
    """Sentences from the arguments, ``--file`` (``-`` is stdin), or stdin when it is not a TTY.

    Lines are kept as they are (only the line break is removed), so a blank line is reported as
    an empty sentence rather than silently skipped.
    """
    if args.sentences and args.file is not None:
        raise UsageError("give sentences as arguments or with --file, not both")
    if args.sentences:
        sentences = list(args.sentences)
    elif args.file == "-" or (args.file is None and sys.stdin is not None and not sys.stdin.isatty()):
        sentences = sys.stdin.read().splitlines()
    elif args.file is not None:
        try:
            with open(args.file, encoding="utf-8") as fh:
                sentences = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read --file {args.file}: {err}") from None
    else:
        raise UsageError("give the sentences as arguments, with --file F, or on standard input")
    if not sentences:
        raise UsageError("no sentences given")
    if count is not None and len(sentences) != count:
        raise UsageError(f"textvae {args.command} needs exactly {count} sentences, got {len(sentences)}")
    return sentences


def _load_model(args: argparse.Namespace):
    from textvae.api import load

    return load(args.checkpoint, device=args.device)


def _decoding(args: argparse.Namespace, method: str) -> dict:
    return {
        "method": method,
        "max_len": args.max_len,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "beam_size": args.beam_size,
    }


def _settings(args: argparse.Namespace, tv, options: dict, **extra) -> dict:
    return {"checkpoint": str(tv.path), "seed": args.seed, **options, **extra}


def _emit_jsonl(rows) -> None:
    import json

    for row in rows:
        print(json.dumps(row))


def _cmd_sample(args: argparse.Namespace) -> int:
    tv = _load_model(args)
    method = args.method or ("greedy" if tv.latent_dim is not None else "sample")
    options = _decoding(args, method)
    texts, z = tv.sample(args.n, prior=args.prior, seed=args.seed, return_latents=True, **options)
    if args.format == "text":
        print("\n".join(texts))
        return 0
    settings = _settings(args, tv, options, prior=args.prior if z is not None else None)
    _emit_jsonl(
        {"index": i, "text": text, "z": None if z is None else z[i].tolist(), "settings": settings}
        for i, text in enumerate(texts)
    )
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    sentences = _read_sentences(args)
    tv = _load_model(args)
    options = _decoding(args, args.method or "greedy")
    decodes, z = tv.reconstruct(
        sentences, source=args.source, n=args.n, seed=args.seed, return_latents=True, **options
    )
    if args.format == "text":
        for sentence, outputs in zip(sentences, decodes, strict=True):
            print(f"> {sentence}")
            for output in outputs:
                print(f"  {output}")
        return 0
    settings = _settings(args, tv, options, source=args.source, n=args.n)
    _emit_jsonl(
        {"input": sentence, "outputs": outputs, "z": z[i].tolist(), "settings": settings}
        for i, (sentence, outputs) in enumerate(zip(sentences, decodes, strict=True))
    )
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    a, b = _read_sentences(args, count=2)
    tv = _load_model(args)
    options = _decoding(args, args.method or "greedy")
    texts, z = tv.interpolate(
        a, b, steps=args.steps, path=args.path, seed=args.seed, return_latents=True, **options
    )
    if args.format == "text":
        print("\n".join(texts))
        return 0
    settings = _settings(args, tv, options, a=a, b=b, steps=args.steps, path=args.path)
    last = len(texts) - 1
    _emit_jsonl(
        {"step": i, "t": i / last, "text": text, "z": z[i].tolist(), "settings": settings}
        for i, text in enumerate(texts)
    )
    return 0


def _cmd_analogy(args: argparse.Namespace) -> int:
    a, b, c = _read_sentences(args, count=3)
    tv = _load_model(args)
    options = _decoding(args, args.method or "greedy")
    text, z = tv.analogy(a, b, c, seed=args.seed, return_latents=True, **options)
    if args.format == "text":
        print(text)
        return 0
    settings = _settings(args, tv, options)
    _emit_jsonl([{"a": a, "b": b, "c": c, "text": text, "z": z.tolist(), "settings": settings}])
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    import json
    import os

    from textvae.quality import format_quality_report, grammar_quality_report

    if args.out is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        # Checked before the minutes of decoding that the report takes, not after.
        raise UsageError(f"cannot write --out {args.out}: its directory does not exist")
    tv = _load_model(args)
    report = grammar_quality_report(
        tv, n_samples=args.n_samples, n_pairs=args.n_pairs, steps=args.steps, n_test=args.n_test,
        seed=args.seed, max_len=args.max_len,
    )
    if args.out is not None:
        _write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    if args.format == "jsonl":
        print(json.dumps(report))
    else:
        print(format_quality_report(report))
    return 0


def _write_text_atomic(path: str, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then an atomic rename."""
    import os

    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write --out {path}: {err.strerror or err}") from None


def _cmd_fit_prior(args: argparse.Namespace) -> int:
    from textvae.api import AGGREGATE_PRIOR_FILE

    tv = _load_model(args)
    prior = tv.fit_aggregate_prior(args.n_components, max_sentences=args.max_sentences, seed=args.seed)
    print(
        f"fitted a {prior.weights.shape[0]}-component diagonal Gaussian mixture to training "
        f"posterior means; saved to {tv.path / AGGREGATE_PRIOR_FILE}"
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from textvae.bench import format_table, run_benchmark

    cfg = _load_config(args)
    for key in ("batch_size", "device", "amp"):
        if getattr(args, key) is not None:
            setattr(cfg.train, key, getattr(args, key))
    results = run_benchmark(
        cfg, seconds=args.seconds, iw_samples=args.iw_samples, iw_sentences=args.iw_sentences or None,
        reference_sentences=args.reference_sentences, log=lambda msg: print(msg, file=sys.stderr),
    )
    print(format_table(results))
    if args.json:
        tmp = f"{args.json}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        os.replace(tmp, args.json)  # never a half-written file
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

    _add_generation_commands(commands)
    _add_bench_command(commands)
    add_evaluate_command(commands)
    add_image_commands(commands)
    return parser


def _add_bench_command(commands) -> None:
    bench = commands.add_parser(
        "bench", help="measure training, decoding and IW-NLL speed against the machine's ceiling"
    )
    _add_config_args(bench, default="configs/ptb_bowman.yaml",
                     help="config to measure (default configs/ptb_bowman.yaml: PTB, LSTM "
                          "256/256/32, batch 32)")
    bench.add_argument("--batch-size", type=positive_int, help="override train.batch_size")
    bench.add_argument("--device", help="override train.device: auto, cpu, cuda, cuda:N")
    bench.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"], help="override train.amp")
    bench.add_argument("--seconds", type=float, default=30.0,
                       help="timed training seconds after warm-up (default 30)")
    bench.add_argument("--iw-samples", type=int, default=500,
                       help="K for the IW-NLL timing (default 500; 0 skips it)")
    bench.add_argument("--iw-sentences", type=int, default=200,
                       help="time IW-NLL on the first N test sentences (default 200; 0: all)")
    bench.add_argument("--reference-sentences", type=positive_int, default=50,
                       help="test sentences timed with the He et al. protocol (default 50)")
    bench.add_argument("--json", help="also write the figures to this JSON file")
    bench.set_defaults(func=_cmd_bench)


def _add_model_args(
    parser: argparse.ArgumentParser, *, decoding: bool = True, method_default: str = "greedy"
) -> None:
    parser.add_argument(
        "-c", "--checkpoint", default="runs/quickstart", metavar="PATH",
        help="a run directory (its best checkpoint, else last) or a checkpoint directory "
        "(default runs/quickstart, where the quickstart trains)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--format", choices=["text", "jsonl"], default="text",
        help="text (default), or JSON Lines with the latent vectors and the settings used",
    )
    if not decoding:
        return
    parser.add_argument(
        "--method", choices=["greedy", "sample", "beam"], help=f"decoding method (default {method_default})"
    )
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    parser.add_argument("--top-k", type=int, help="sample from the k most likely tokens")
    parser.add_argument("--top-p", type=float, help="sample from the nucleus of this mass, in (0, 1]")
    parser.add_argument("--beam-size", type=int, default=5, help="beams for --method beam (default 5)")
    parser.add_argument(
        "--max-len", type=int, default=64, help="most generated tokens, end token included (default 64)"
    )


def _add_sentence_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE", help=what)
    parser.add_argument(
        "--file", metavar="F", help="read sentences from F, one per line (- for stdin); "
        "stdin is also read when no sentences are given and it is not a terminal",
    )


def _add_generation_commands(commands) -> None:
    sample = commands.add_parser("sample", help="generate sentences from the prior")
    _add_model_args(sample, method_default="greedy; sample for an LM baseline")
    sample.add_argument("--n", type=positive_int, default=10, help="sentences (default 10)")
    sample.add_argument(
        "--prior", choices=["standard", "aggregate"], default="standard",
        help="standard N(0, I) (default) or the aggregate prior fitted to training codes",
    )
    sample.set_defaults(func=_cmd_sample)

    reconstruct = commands.add_parser("reconstruct", help="encode sentences and decode them back")
    _add_model_args(reconstruct)
    _add_sentence_args(reconstruct, "sentences to reconstruct")
    reconstruct.add_argument(
        "--source", choices=["mean", "sample"], default="mean",
        help="decode the posterior mean (default) or draws from q(z|x)",
    )
    reconstruct.add_argument("--n", type=positive_int, default=1, help="decodes per sentence (default 1)")
    reconstruct.set_defaults(func=_cmd_reconstruct)

    interpolate = commands.add_parser(
        "interpolate", help="decode a path between two sentences' codes (a homotopy)"
    )
    _add_model_args(interpolate)
    _add_sentence_args(interpolate, "the two endpoint sentences")
    interpolate.add_argument(
        "--steps", type=int, default=8, help="points on the path, both endpoints included (default 8)"
    )
    interpolate.add_argument("--path", choices=["linear", "slerp"], default="linear", help="default linear")
    interpolate.set_defaults(func=_cmd_interpolate)

    analogy = commands.add_parser("analogy", help="a : b :: c : ?, decoded from mu(c) + mu(b) - mu(a)")
    _add_model_args(analogy)
    _add_sentence_args(analogy, "the three sentences a, b, c")
    analogy.set_defaults(func=_cmd_analogy)

    quality = commands.add_parser(
        "quality", help="grammaticality, reconstruction and probe report (grammar-corpus models)"
    )
    _add_model_args(quality, decoding=False)
    quality.add_argument("--n-samples", type=positive_int, default=1000, help="prior samples per setting")
    quality.add_argument("--n-pairs", type=positive_int, default=100, help="interpolation pairs")
    quality.add_argument("--steps", type=int, default=8, help="points per interpolation (>= 3)")
    quality.add_argument("--n-test", type=positive_int, default=1000, help="test sentences")
    quality.add_argument("--max-len", type=int, default=64, help="most generated tokens per decode")
    quality.add_argument("--out", help="also write the report as JSON to this file")
    quality.set_defaults(func=_cmd_quality)

    fit_prior = commands.add_parser(
        "fit-prior", help="fit (or refit) the aggregate prior and save it in the checkpoint"
    )
    _add_model_args(fit_prior, decoding=False)
    fit_prior.add_argument("--n-components", type=positive_int, default=10, help="default 10")
    fit_prior.add_argument(
        "--max-sentences", type=positive_int, default=20000, help="training sentences to encode"
    )
    fit_prior.set_defaults(func=_cmd_fit_prior)


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
