"""``textvae sample|reconstruct|interpolate|analogy|encode|quality|fit-prior``: thin wrappers over
:mod:`textvae.text.api` (torch is imported only inside the handlers)."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial

from textvae.cli.common import (
    UsageError,
    check_checkpoint_folder,
    check_output_file,
    positive_int,
    says,
    use_free_cores,
)
from textvae.cli.stream import stream_lines
from textvae.core.files import STDOUT
from textvae.text.run.decoding import (
    DECODING_METHODS,
    DEFAULT_BEAM_SIZE,
    DEFAULT_MAX_LEN,
    DEFAULT_METHOD,
    DEFAULT_TEMPERATURE,
    check_decoding_options,
)


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
    from textvae.text.api import load

    return load(args.checkpoint, device=args.device)


def _decoding(args: argparse.Namespace, method: str) -> dict:
    """The decoding flags as options, checked; a flag the method ignores is an error that
    names the flag (``--top-k applies to --method sample; greedy decoding ignores it ...``)."""
    options = {
        "method": method,
        "max_len": args.max_len,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "beam_size": args.beam_size,
    }
    check_decoding_options(**options, flags=True)
    return options


def _note(message: str) -> None:
    """Progress of long one-off work, on stderr (stdout holds the command's output)."""
    print(message, file=sys.stderr)


def _settings(args: argparse.Namespace, tv, options: dict, **extra) -> dict:
    return {"checkpoint": str(tv.path), "seed": args.seed, **options, **extra}


def _emit_jsonl(rows) -> None:
    for row in rows:
        print(json.dumps(row))


def _cmd_sample(args: argparse.Namespace) -> int:
    tv = _load_model(args)
    method = args.method or (DEFAULT_METHOD if tv.latent_dim is not None else "sample")
    options = _decoding(args, method)
    labelled = {}
    if args.label:
        if not hasattr(tv, "label_set"):
            raise UsageError(f"--label: {tv.path} is not a labelled run (it was trained without labels; "
                             "docs/labels.md)")
        labelled = {"label": args.label}
    if args.prior == "aggregate" and tv.latent_dim is not None:
        tv.aggregate_prior(log=_note)  # read, or fitted once (minutes) and saved: say so
    rows = tv.iter_sample(args.n, prior=args.prior, seed=args.seed, return_latents=True, **labelled,
                          **options)
    if args.format == "text":
        lines = (text for text, _ in rows)
    else:
        prior = args.prior if tv.latent_dim is not None else None  # the LM has no prior
        settings = _settings(args, tv, options, prior=prior, **labelled)
        lines = (
            json.dumps({"index": i, "text": text, "z": None if z is None else z.tolist(),
                        "settings": settings})
            for i, (text, z) in enumerate(rows)
        )
    return stream_lines(lines, args.n, tv.chunk_size, progress=not args.no_progress)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    sentences = _read_sentences(args)
    options = _decoding(args, args.method or DEFAULT_METHOD)  # refused before loading
    tv = _load_model(args)
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
    options = _decoding(args, args.method or DEFAULT_METHOD)  # refused before loading
    tv = _load_model(args)
    rows = tv.iter_interpolate(
        a, b, steps=args.steps, path=args.path, seed=args.seed, return_latents=True, **options
    )
    if args.format == "text":
        lines = (text for text, _ in rows)
    else:
        settings = _settings(args, tv, options, a=a, b=b, steps=args.steps, path=args.path)
        last = args.steps - 1
        lines = (
            json.dumps({"step": i, "t": i / last, "text": text, "z": z.tolist(),
                        "settings": settings})
            for i, (text, z) in enumerate(rows)
        )
    return stream_lines(lines, args.steps, tv.chunk_size, progress=not args.no_progress)


def _cmd_analogy(args: argparse.Namespace) -> int:
    a, b, c = _read_sentences(args, count=3)
    options = _decoding(args, args.method or DEFAULT_METHOD)  # refused before loading
    tv = _load_model(args)
    text, z = tv.analogy(a, b, c, seed=args.seed, return_latents=True, **options)
    if args.format == "text":
        print(text)
        return 0
    settings = _settings(args, tv, options)
    _emit_jsonl([{"a": a, "b": b, "c": c, "text": text, "z": z.tolist(), "settings": settings}])
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    from textvae.core.files import write_text
    from textvae.text.evaluate.grammar_quality import format_quality_report, grammar_quality_report

    check_output_file(args.out, "--out")
    use_free_cores()
    tv = _load_model(args)
    report = grammar_quality_report(
        tv, n_samples=args.n_samples, n_pairs=args.n_pairs, steps=args.steps, n_test=args.n_test,
        seed=args.seed, max_len=args.max_len,
    )
    if args.out is not None:
        write_text(args.out, json.dumps(report, indent=2) + "\n")
    if args.out is not None and says(args.out) is sys.stderr:  # `--out -`: the JSON was it
        if args.format != "jsonl":
            print(format_quality_report(report), file=sys.stderr)
    elif args.format == "jsonl":
        print(json.dumps(report))
    else:
        print(format_quality_report(report))
    return 0



def _cmd_fit_prior(args: argparse.Namespace) -> int:
    from textvae.text.api import AGGREGATE_PRIOR_FILE

    check_checkpoint_folder(args.checkpoint, "the aggregate prior into the checkpoint")
    use_free_cores()
    tv = _load_model(args)
    prior = tv.fit_aggregate_prior(args.n_components, max_sentences=args.max_sentences,
                                   seed=args.seed, log=_note)
    print(
        f"fitted a {prior.weights.shape[0]}-component diagonal Gaussian mixture to training "
        f"posterior means; saved to {tv.path / AGGREGATE_PRIOR_FILE}"
    )
    return 0



def _cmd_encode(args: argparse.Namespace) -> int:
    out = None if args.out == STDOUT else args.out  # `-`: JSON Lines on stdout, the default
    if out is not None and not out.endswith((".jsonl", ".npy")):
        raise UsageError(f"--out {out}: give a .jsonl or a .npy file (or - for standard output)")
    check_output_file(out, "--out")
    if out is not None and out.endswith(".npy"):
        check_output_file(out[: -len(".npy")] + ".logvar.npy", "--out's log-variances")
    sentences = _read_sentences(args)
    tv = _load_model(args)
    mu, logvar = tv.encode(sentences)  # (S, Z) each
    if out is not None and out.endswith(".npy"):

        from textvae.core.files import write_with

        logvar_path = out[: -len(".npy")] + ".logvar.npy"
        for path, values in ((out, mu), (logvar_path, logvar)):
            write_with(path, partial(_save_npy, array=values.cpu().numpy()))
        print(f"wrote posterior means ({len(sentences)}, {tv.latent_dim}) to {out} and "
              f"log-variances to {logvar_path}", file=sys.stderr)
        return 0
    rows = [
        {"sentence": text, "mu": m.tolist(), "logvar": v.tolist()}
        for text, m, v in zip(sentences, mu.cpu(), logvar.cpu(), strict=True)
    ]
    if out is None:
        _emit_jsonl(rows)
    else:
        from textvae.core.files import write_text

        write_text(out, "".join(json.dumps(row) + "\n" for row in rows))
        print(f"wrote {len(rows)} posterior means and log-variances to {out}", file=sys.stderr)
    return 0


def _save_npy(path, array) -> None:
    import numpy as np

    with open(path, "wb") as fh:  # a file object: np.save given a name would append ".npy"
        np.save(fh, array)


def _add_model_args(
    parser: argparse.ArgumentParser, *, decoding: bool = True, method_default: str = DEFAULT_METHOD,
    formats: bool = True,
) -> None:
    parser.add_argument(
        "-c", "--checkpoint", default="runs/quickstart", metavar="PATH",
        help="a run directory (its best checkpoint, else last) or a checkpoint directory "
        "(default runs/quickstart, where the quickstart trains)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if formats:
        parser.add_argument(
            "--format", choices=["text", "jsonl"], default="text",
            help="text (default), or JSON Lines with the latent vectors and the settings used",
        )
    if not decoding:
        return
    parser.add_argument(
        "--method", choices=list(DECODING_METHODS), help=f"decoding method (default {method_default})"
    )
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                        help=f"sampling temperature (default {DEFAULT_TEMPERATURE:g})")
    parser.add_argument("--top-k", type=int, help="sample from the k most likely tokens")
    parser.add_argument("--top-p", type=float, help="sample from the nucleus of this mass, in (0, 1]")
    parser.add_argument("--beam-size", type=int, default=DEFAULT_BEAM_SIZE,
                        help=f"beams for --method beam (default {DEFAULT_BEAM_SIZE})")
    parser.add_argument(
        "--max-len", type=int, default=DEFAULT_MAX_LEN,
        help=f"most generated tokens, end token included (default {DEFAULT_MAX_LEN})"
    )


def _add_progress_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-progress", action="store_true",
        help="no progress on stderr (shown for more than one chunk of output: a bar on a "
        "terminal, else a line every TEXTVAE_PROGRESS_SECONDS, default 30)",
    )


def _add_sentence_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE", help=what)
    parser.add_argument(
        "--file", metavar="F", help="read sentences from F, one per line (- for stdin); "
        "stdin is also read when no sentences are given and it is not a terminal",
    )


def add_generation_commands(commands) -> None:
    """Register the generation commands on the ``textvae`` subparsers."""
    sample = commands.add_parser("sample", help="generate sentences from the prior")
    _add_model_args(sample, method_default="greedy; sample for an LM baseline")
    sample.add_argument(
        "--n", type=positive_int, default=10,
        help="sentences (default 10); written as they are decoded, a chunk at a time, so any "
        "number fits in memory",
    )
    _add_progress_arg(sample)
    sample.add_argument(
        "--prior", choices=["standard", "aggregate"], default="standard",
        help="standard N(0, I) (default) or the aggregate prior fitted to training codes",
    )
    sample.add_argument(
        "--label", action="append", default=[], metavar="FACTOR=VALUE",
        help="a labelled run: generate with this label (repeat for several factors; the others "
        "are drawn from the uniform prior)",
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
        "--steps", type=int, default=8, help="points on the path, both endpoints included "
        "(default 8); written as they are decoded, a chunk at a time"
    )
    _add_progress_arg(interpolate)
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
    quality.add_argument("--max-len", type=int, default=DEFAULT_MAX_LEN,
                         help=f"most generated tokens per decode (default {DEFAULT_MAX_LEN})")
    quality.add_argument("--out", help="also write the report as JSON to this file (- for "
                         "standard output, the table then going to standard error)")
    quality.set_defaults(func=_cmd_quality)

    encode = commands.add_parser(
        "encode", help="sentences in, posterior means and log-variances out (JSON Lines or .npy)"
    )
    _add_model_args(encode, decoding=False, formats=False)
    _add_sentence_args(encode, "sentences to encode")
    encode.add_argument(
        "--out", metavar="FILE", help="write to FILE.jsonl, or FILE.npy (means, shape (S, Z)) "
        "with the log-variances in FILE.logvar.npy; default (or -): JSON Lines on standard "
        "output",
    )
    encode.set_defaults(func=_cmd_encode)

    fit_prior = commands.add_parser(
        "fit-prior", help="fit (or refit) the aggregate prior and save it in the checkpoint"
    )
    _add_model_args(fit_prior, decoding=False)
    fit_prior.add_argument("--n-components", type=positive_int, default=10, help="default 10")
    fit_prior.add_argument(
        "--max-sentences", type=positive_int, default=20000, help="training sentences to encode"
    )
    fit_prior.set_defaults(func=_cmd_fit_prior)

