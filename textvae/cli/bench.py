"""``textvae bench``: training, decoding and IW-NLL speed against the machine's ceiling."""

from __future__ import annotations

import argparse
import sys

from textvae.cli.common import add_config_args, check_output_file, positive_int, says


def _cmd_bench(args: argparse.Namespace) -> int:
    check_output_file(args.json, "--json")  # before the imports and the minutes of measuring
    from textvae.core.files import write_json
    from textvae.text.evaluate.bench import format_table, run_benchmark
    from textvae.text.run.config import load_config

    cfg = load_config(args.config, args.overrides)
    for key in ("batch_size", "device", "amp"):
        if getattr(args, key) is not None:
            setattr(cfg.train, key, getattr(args, key))
    results = run_benchmark(
        cfg, seconds=args.seconds, iw_samples=args.iw_samples, iw_sentences=args.iw_sentences or None,
        reference_sentences=args.reference_sentences, decode_length=args.decode_length,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print(format_table(results), file=says(args.json))  # `--json -`: stdout holds the JSON
    if args.json:
        write_json(args.json, results)  # never a half-written file
    return 0


# ----------------------------------------------------------------------------------------------
# Parser


def add_bench_command(commands) -> None:
    """Register ``bench`` on the ``textvae`` subparsers."""
    bench = commands.add_parser(
        "bench", help="measure training, decoding and IW-NLL speed against the machine's ceiling"
    )
    add_config_args(bench, default="quickstart",
                     help="config to measure, a shipped name or a file (default quickstart: the "
                          "built-in corpus; ptb_bowman measures PTB, LSTM 256/256/32, batch 32)")
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
    bench.add_argument("--decode-length", type=positive_int, default=40,
                       help="tokens per greedy decode, no end token stopping one (default 40; "
                            "PTB's mean sentence is 22 words)")
    bench.add_argument("--json", help="also write the figures to this JSON file (- for standard "
                       "output, the table then going to standard error)")
    bench.set_defaults(func=_cmd_bench)

