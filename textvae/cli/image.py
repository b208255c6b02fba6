"""``textvae image train|evaluate|sample|plot|classify|analogy``: thin wrappers over textvae.image.

Registered on the main parser by :func:`add_image_commands`. Heavy imports (torch, matplotlib)
happen inside the handlers, so ``textvae --help`` stays instant. User errors are
:class:`~textvae.core.errors.TextVAEError` and reach the user as ``textvae: error: ...`` (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from textvae.cli.common import (
    UsageError,
    add_train_args,
    check_output_file,
    positive_int,
    run_training,
    says,
)
from textvae.cli.image_prior import prior_evaluate
from textvae.core.errors import TextVAEError

PLOTS = ("samples", "reconstructions", "manifold", "traversals", "curves")
CURVE_KEYS = ("neg_elbo", "kl", "reconstruction", "mse_per_image", "codebook_usage")


def _config(args: argparse.Namespace):
    from textvae.image.run.config import load_image_config

    return load_image_config(args.config, args.overrides)


def _image_trainer() -> Callable[..., Any]:
    from textvae.image.training.train import train_image

    return train_image


def _semisup_trainer() -> Callable[..., Any]:  # M2, M1+M2, the classifier alone
    from textvae.image.training.semisup_train import train_semisup

    return train_semisup


def _prior_trainer() -> Callable[..., Any]:  # a PixelCNN prior over a VQ run's codes
    from textvae.image.training.prior_train import train_prior

    return train_prior


# Each kind of image run (textvae.image.run.config.RUN_KINDS) with its trainer and its evaluation,
# imported when used so that `textvae --help` stays free of torch.
TRAINERS: dict[str, Callable[[], Callable[..., Any]]] = {
    "image": _image_trainer, "semisup": _semisup_trainer, "prior": _prior_trainer}


def _cmd_train(args: argparse.Namespace) -> int:
    config = _config(args)
    status, _ = run_training(args, config, TRAINERS[config.run_kind]())
    return status


def _evaluate_image(args: argparse.Namespace) -> dict:
    from textvae.image.use.report import evaluate_run

    return evaluate_run(
        args.run, split=args.split, iw_k=args.iw_k, iw_chunk=args.iw_chunk,
        max_images=args.max_images, offset=args.offset, device=args.device, seed=args.seed,
        beta_vae_train=args.beta_vae_train, beta_vae_test=args.beta_vae_test,
        mig_images=args.mig_images, log=lambda msg: print(msg, file=sys.stderr),
    )


def _evaluate_semisup(args: argparse.Namespace) -> dict:
    from textvae.image.use.classify import evaluate_semisup_run

    return evaluate_semisup_run(args.run, split=args.split, max_images=args.max_images,
                                offset=args.offset, device=args.device, seed=args.seed)


EVALUATORS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "image": _evaluate_image, "semisup": _evaluate_semisup, "prior": prior_evaluate}


def _run_kind(run: str) -> str:
    """The kind of image run saved in ``run`` (a plain image run where its meta.json cannot be
    read: its loader then says why)."""
    from textvae.image.run.config import run_kind
    from textvae.image.training.train import image_model_type

    return run_kind(image_model_type(run))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    check_output_file(args.out, "--out")  # before the minutes of evaluation
    kind = _run_kind(args.run)
    if args.judge is not None and kind != "prior":
        raise UsageError("--judge scores the samples of a PixelCNN prior run "
                         "(model.model_type: prior); this run is none")
    return _print_json(EVALUATORS[kind](args), args.out)


def _print_json(result: dict, out: str | None) -> int:
    from textvae.core.files import write_text

    text = json.dumps(result, indent=2)
    if not (out and says(out) is sys.stderr):  # `--out -` is this print already
        print(text)
    if out:
        write_text(out, text + "\n")
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    if bool(args.images) == (args.split is not None):
        raise UsageError("give image files to classify, or --split valid|test, not both")
    from textvae.image.training.semisup_train import class_ids, load_semisup_model
    from textvae.image.use.classify import classify_files, classify_images
    from textvae.image.use.report import test_images

    model, cfg, _, label_set = load_semisup_model(args.checkpoint, args.device)
    factor = label_set.names[0]
    values = label_set.factors[factor]
    if args.images:
        for row in classify_files(model, label_set, args.images):
            listed = " ".join(f"{v}:{p:.3f}" for v, p in row["probabilities"].items())
            print(f"{row['file']}\t{factor}={row['predicted']}\t{listed}")
        return 0
    images, labels = test_images(cfg, args.split, args.max_images, args.offset)
    probs = classify_images(model, images)  # (N, K)
    truth = class_ids(labels, label_set)
    for i, (p, y) in enumerate(zip(probs, truth, strict=True)):
        shown = " ".join(f"{v}:{q:.3f}" for v, q in zip(values, p, strict=True))
        print(f"{args.split}[{args.offset + i}]\ttrue={values[int(y)]}\t"
              f"predicted={values[int(p.argmax())]}\t{shown}")
    correct = int((probs.argmax(dim=1) == truth).sum())
    print(f"accuracy {correct}/{len(truth)} = {correct / max(len(truth), 1):.4f}", file=sys.stderr)
    return 0


def _cmd_analogy(args: argparse.Namespace) -> int:
    check_output_file(args.out, "--out", make_parents=True)
    from textvae.image.use.classify import analogy_from_run

    path = analogy_from_run(args.checkpoint, args.out, n=args.n, split=args.split,
                            device=args.device)
    print(f"wrote {path}", file=says(args.out))
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from textvae.cli.image_prior import prior_sample

    if (status := prior_sample(args)) is not None:  # a PixelCNN prior run
        return status
    args.kind = "samples"
    return _cmd_plot(args)


def _cmd_plot(args: argparse.Namespace) -> int:
    check_output_file(args.out, "--out", make_parents=True)  # the picture writers make folders
    from pathlib import Path

    import torch

    from textvae.image.pixels import pictures

    out = Path(args.out)
    if args.kind == "curves":
        run = Path(args.run)
        metrics = run / "metrics.jsonl" if run.is_dir() else run
        if not metrics.is_file():
            raise TextVAEError(f"no metrics.jsonl in {args.run}")
        keys = args.keys
        if keys is None:  # the headline curves that the run logged
            text = metrics.read_text(encoding="utf-8")
            keys = [k for k in CURVE_KEYS if f'"{k}"' in text] or None
        try:
            from textvae.core.curves import plot_curves

            path = plot_curves(metrics, out, keys=keys)
        except ValueError as err:
            raise TextVAEError(str(err)) from None
        print(f"wrote {path}", file=says(args.out))
        return 0

    from textvae.image.models.vae import ImageVAE
    from textvae.image.training.train import load_image_model
    from textvae.image.use.generate import decode_mean, encode_means, reconstruct, sample_images
    from textvae.image.use.report import test_images

    model, cfg, _ = load_image_model(args.run, args.device)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(args.seed)
    if args.kind == "samples":
        path = pictures.save_grid(sample_images(model, args.n, generator=generator).cpu(), out)
    elif args.kind == "reconstructions":
        images, _ = test_images(cfg, "test", args.n)
        path = pictures.save_reconstructions(images, reconstruct(model, images).cpu(), out)
    elif args.kind in ("manifold", "traversals"):
        if not isinstance(model, ImageVAE):
            raise TextVAEError(f"`image plot {args.kind}` needs a VAE (model.model_type: vae)")

        def decode(z):
            return decode_mean(model, z.to(next(model.parameters()).device)).cpu()

        if args.kind == "manifold":
            if model.latent_dim != 2:
                raise TextVAEError(
                    f"the manifold plot needs a 2-D latent space; this model has "
                    f"{model.latent_dim} (train with --set model.latent_dim=2)"
                )
            path = pictures.save_manifold(decode, out, n=args.grid)
        else:
            images, _ = test_images(cfg, "test", 1)
            z0 = encode_means(model, images)[0]
            path = pictures.save_traversals(decode, z0, out)
    print(f"wrote {path}", file=says(args.out))  # `--out -`: the PNG is standard output
    return 0


def add_image_commands(commands) -> None:
    """Add ``image`` and its subcommands to the main parser's subparsers."""
    image = commands.add_parser(
        "image",
        help="image VAEs (MNIST, sprites): train, evaluate, sample, plot; M2: classify, analogy"
    )
    sub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)

    train = sub.add_parser("train", help="train an image model from a config (configs/mnist_*.yaml)")
    add_train_args(train)
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="ELBO, reconstruction error, IW-NLL (K=5000), bits/dim, codebook usage, sprite metrics",
    )
    evaluate.add_argument("run", help="a run directory or checkpoint")
    evaluate.add_argument("--split", default="test", choices=["valid", "test"])
    evaluate.add_argument("--iw-k", type=int, default=5000,
                          help="importance samples for the NLL (default 5000; 0 skips it)")
    evaluate.add_argument("--iw-chunk", type=positive_int, default=500,
                          help="samples decoded at once (memory bound; default 500)")
    evaluate.add_argument("--max-images", type=positive_int, help="evaluate N images only")
    evaluate.add_argument("--offset", type=int, default=0,
                          help="start at this image (to split a long evaluation across processes)")
    evaluate.add_argument("--beta-vae-train", type=positive_int, default=5000,
                          help="sprites: beta-VAE metric training examples (default 5000)")
    evaluate.add_argument("--beta-vae-test", type=positive_int, default=2000,
                          help="sprites: beta-VAE metric test examples (default 2000)")
    evaluate.add_argument("--mig-images", type=positive_int, default=10000,
                          help="sprites: freshly rendered sprites MIG is measured on (default 10000)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--out", help="also write the JSON here (- for standard output only)")
    evaluate.set_defaults(func=_cmd_evaluate)

    def picture_args(p, n_default: int) -> None:
        p.add_argument("run", help="a run directory or checkpoint (for curves: a run directory)")
        p.add_argument("--out", required=True, help="the PNG to write (- for standard output)")
        p.add_argument("--n", type=positive_int, default=n_default, help="images (default %(default)s)")
        p.add_argument("--grid", type=positive_int, default=20, help="manifold grid side (default 20)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="auto")
        p.add_argument("--keys", nargs="+",
                       help="curves: metrics to plot (default: " + ", ".join(CURVE_KEYS) + ")")

    sample = sub.add_parser("sample", help="a PNG grid of samples from the prior")
    picture_args(sample, 64)
    sample.set_defaults(func=_cmd_sample)

    plot = sub.add_parser("plot", help="one PNG: " + ", ".join(PLOTS))
    plot.add_argument("kind", choices=PLOTS)
    picture_args(plot, 16)
    plot.set_defaults(func=_cmd_plot)

    classify = sub.add_parser(
        "classify", help="class probabilities q(y|x) of images, from a semi-supervised run (M2)"
    )
    classify.add_argument("images", nargs="*", metavar="IMAGE",
                          help="image files (PNG, ...; grey levels, resized to the model's side)")
    classify.add_argument("-c", "--checkpoint", required=True, help="a run directory or checkpoint")
    classify.add_argument("--split", choices=["valid", "test"],
                          help="classify the run's own valid or test images instead (with labels)")
    classify.add_argument("--max-images", type=positive_int, help="with --split: N images only")
    classify.add_argument("--offset", type=int, default=0, help="with --split: start at this image")
    classify.add_argument("--device", default="auto")
    classify.set_defaults(func=_cmd_classify)

    analogy = sub.add_parser(
        "analogy", help="M2's analogy figure: each row one test image's z decoded with every class"
    )
    analogy.add_argument("-c", "--checkpoint", required=True, help="a run directory or checkpoint")
    analogy.add_argument("--out", required=True, help="the PNG to write (- for standard output)")
    analogy.add_argument("--n", type=positive_int, default=10, help="rows (default %(default)s)")
    analogy.add_argument("--split", default="test", choices=["valid", "test"])
    analogy.add_argument("--device", default="auto")
    analogy.set_defaults(func=_cmd_analogy)

    from textvae.cli.image_prior import add_prior_args  # --class, --judge of PixelCNN priors
    from textvae.cli.image_restore import add_restore_commands  # restore, degrade, checkerboard

    add_prior_args(sub.choices["sample"], sub.choices["evaluate"])
    add_restore_commands(sub)
