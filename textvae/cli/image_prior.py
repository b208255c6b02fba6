"""``textvae image sample|evaluate`` on a PixelCNN prior run: thin wrappers over
textvae.image.use.prior_sample.

- ``sample PRIOR --class 3 --n 64 --out s.png [--temperature T] [--seed S]``: samples of one
  class; without ``--class``, a class-conditional prior gives a grid with one row per class
  (``--n`` // classes per row) and an unconditional one ``--n`` samples.
- ``evaluate PRIOR [--judge runs/mnist_judge] [--per-class 100]``: the test bits per code per
  level and, with a judge, the share of class-conditional samples it labels as requested.

The ``image`` commands hand over to these when the run is a prior (:func:`prior_sample` and
:func:`prior_evaluate` return None for any other run); :func:`add_prior_args` adds the options.
"""

from __future__ import annotations

import argparse
import sys

from textvae.cli.common import UsageError, check_output_file, positive_int, says, use_free_cores


def add_prior_args(sample: argparse.ArgumentParser, evaluate: argparse.ArgumentParser) -> None:
    """The prior's options of ``image sample`` and ``image evaluate``."""
    sample.add_argument("--class", dest="class_value", metavar="CLASS",
                        help="prior runs: the class to sample (e.g. 3); default: one row per class")
    for parser in (sample, evaluate):
        parser.add_argument("--temperature", type=float, default=1.0,
                            help="prior runs: the PixelCNN's softmax temperature (default 1; 0: "
                                 "argmax)")
    evaluate.add_argument("--judge", help="prior runs: a judge classifier run (runs/mnist_judge) "
                                          "that labels class-conditional samples")
    evaluate.add_argument("--per-class", type=positive_int, default=100,
                          help="prior runs with --judge: samples per class (default 100)")


def _is_prior(run: str) -> bool:
    from textvae.image.training.prior_train import is_prior_run

    return is_prior_run(run)


def prior_sample(args: argparse.Namespace) -> int | None:
    """``image sample`` of a prior run; None (and nothing done) for another run."""
    if not _is_prior(args.run):
        if args.class_value is not None or args.temperature != 1.0:
            raise UsageError("--class and --temperature sample a PixelCNN prior run "
                             "(model.model_type: prior); this run is none")
        return None
    if args.temperature < 0:
        raise UsageError(f"--temperature must be >= 0, got {args.temperature}")
    check_output_file(args.out, "--out", make_parents=True)
    import torch

    from textvae.image.pixels import pictures
    from textvae.image.training.prior_train import load_prior
    from textvae.image.use.prior_sample import class_grid, class_id, sample_images

    loaded = load_prior(args.run, args.device)
    generator = torch.Generator(device=next(loaded.prior.parameters()).device)
    generator.manual_seed(args.seed)
    nrow = None
    if args.class_value is not None:
        classes = torch.full((args.n,), class_id(loaded, args.class_value), dtype=torch.long)
        images = sample_images(loaded, classes, temperature=args.temperature, generator=generator)
    elif loaded.prior.num_classes:
        nrow = max(1, args.n // loaded.prior.num_classes)
        images = class_grid(loaded, nrow, temperature=args.temperature, generator=generator)
    else:
        images = sample_images(loaded, None, args.n, temperature=args.temperature,
                               generator=generator)
    print(f"wrote {pictures.save_grid(images, args.out, nrow=nrow)}", file=says(args.out))
    return 0


def prior_evaluate(args: argparse.Namespace) -> dict:
    """``image evaluate`` of a prior run: the JSON result."""
    import torch

    from textvae.image.training.prior_train import load_prior
    from textvae.image.use.prior_sample import (
        class_names,
        evaluate_prior,
        per_class_requests,
        sample_images,
    )

    use_free_cores()
    loaded = load_prior(args.run, args.device)
    judge = None
    if args.judge is not None:  # refused before the minutes of evaluation, if it must be
        if not loaded.prior.num_classes:
            raise UsageError("--judge scores class-conditional samples; this prior is "
                             "unconditional")
        from textvae.image.use.judge import load_judge, score_class_samples

        judge = load_judge(args.judge, args.device)
        names = class_names(loaded)
        unknown = [name for name in names if name not in judge.classes]
        factor = loaded.label_set.names[0] if loaded.label_set is not None else None
        if unknown or factor != judge.factor:
            raise UsageError(f"the judge {args.judge} reads {judge.factor} "
                             f"({', '.join(judge.classes)}); it cannot judge the prior's "
                             f"{factor} ({', '.join(names)})")
    result = evaluate_prior(loaded, args.split)
    if judge is not None:
        requested = per_class_requests(loaded, args.per_class)
        as_judged = torch.tensor([judge.classes.index(names[c]) for c in requested.tolist()])
        generator = torch.Generator(device=next(loaded.prior.parameters()).device)
        generator.manual_seed(args.seed)
        print(f"drawing {len(requested)} samples ...", file=sys.stderr)
        images = sample_images(loaded, requested, temperature=args.temperature,
                               generator=generator)
        result["samples"] = {"per_class": args.per_class, "temperature": args.temperature,
                             "seed": args.seed, **score_class_samples(judge, images, as_judged)}
    return result
