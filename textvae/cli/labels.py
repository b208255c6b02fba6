"""``textvae classify|transfer``: a labelled model's (conditional VAE or M2, docs/labels.md) class
probabilities of sentences, and sentences with one attribute changed. ``textvae sample --label``
lives with ``sample`` (:mod:`textvae.cli.generate`)."""

from __future__ import annotations

import argparse
import json

from textvae.cli.common import UsageError, positive_int
from textvae.cli.generate import (
    _add_model_args,
    _add_sentence_args,
    _decoding,
    _emit_jsonl,
    _load_model,
    _read_sentences,
    _settings,
)
from textvae.text.run.decoding import DEFAULT_METHOD


def load_labelled(args: argparse.Namespace):
    """The model of ``-c``, which must be a labelled run (else one clear error)."""
    tv = _load_model(args)
    if not hasattr(tv, "label_set"):
        raise UsageError(f"{tv.path} is not a labelled run, so it has no labels to {args.command} by; "
                         "train one with a labels section (docs/labels.md), e.g. --config grammar_cvae")
    return tv


def _cmd_classify(args: argparse.Namespace) -> int:
    sentences = _read_sentences(args)
    tv = load_labelled(args)
    for sentence, probs in zip(sentences, tv.classify(sentences), strict=True):
        if args.format == "jsonl":
            print(json.dumps({"sentence": sentence, "probabilities": probs,
                              "labels": {f: max(p, key=p.get) for f, p in probs.items()}}))
            continue
        print(f"> {sentence}")
        for factor, p in probs.items():
            ranked = sorted(p.items(), key=lambda item: -item[1])
            print(f"  {factor}: " + "  ".join(f"{value} {prob:.3f}" for value, prob in ranked))
    return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
    if not args.label:
        raise UsageError("give the label to change to with --label FACTOR=VALUE (e.g. --label tense=past)")
    sentences = _read_sentences(args)
    options = _decoding(args, args.method or DEFAULT_METHOD)  # refused before loading
    tv = load_labelled(args)
    outputs = tv.transfer(sentences, args.label, source_label=args.source_label, seed=args.seed, **options)
    if args.format == "jsonl":
        settings = _settings(args, tv, options, label=args.label, source_label=args.source_label)
        _emit_jsonl({"input": s, "output": o, "settings": settings}
                    for s, o in zip(sentences, outputs, strict=True))
        return 0
    for sentence, output in zip(sentences, outputs, strict=True):
        print(f"> {sentence}")
        print(f"  {output}")
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from textvae.text.data.labels import read_tsv
    from textvae.text.evaluate.probe import probe_accuracy

    train, evaluation = read_tsv(args.labelled, args.factor), read_tsv(args.eval, args.factor)
    tv = _load_model(args)
    result = probe_accuracy(tv, train, evaluation, factor=args.factor,
                            labels_per_class=args.labels_per_class, label_seed=args.label_seed)
    print(json.dumps({"checkpoint": str(tv.path), **result}))
    return 0


def add_label_commands(commands) -> None:
    """Register ``classify`` and ``transfer`` on the ``textvae`` subparsers."""
    classify = commands.add_parser("classify", help="class probabilities of sentences (a labelled run)")
    _add_model_args(classify, decoding=False)
    _add_sentence_args(classify, "sentences to classify")
    classify.set_defaults(func=_cmd_classify)

    transfer = commands.add_parser(
        "transfer", help="change one label of sentences and keep the rest (a labelled run)")
    _add_model_args(transfer)
    _add_sentence_args(transfer, "sentences to change")
    transfer.add_argument("--label", action="append", default=[], metavar="FACTOR=VALUE",
                          help="the label to change to (repeat for several factors)")
    transfer.add_argument("--source-label", action="append", default=[], metavar="FACTOR=VALUE",
                          help="the sentences' own labels (default: what the model infers)")
    transfer.set_defaults(func=_cmd_transfer)

    probe = commands.add_parser(
        "probe", help="a linear probe on a VAE's posterior means: the unsupervised baseline of M2")
    _add_model_args(probe, decoding=False, formats=False)
    probe.add_argument("--labelled", required=True, metavar="FILE",
                       help="label<TAB>sentence lines to fit the probe on")
    probe.add_argument("--eval", required=True, metavar="FILE", help="label<TAB>sentence lines to score it on")
    probe.add_argument("--factor", default="label", help="the label's name (default label)")
    probe.add_argument("--labels-per-class", type=positive_int, metavar="N",
                       help="fit on a seeded draw of N sentences per class (M2's labels.labels_per_class)")
    probe.add_argument("--label-seed", type=int, default=0, help="the draw's seed (M2's labels.label_seed)")
    probe.set_defaults(func=_cmd_probe)
