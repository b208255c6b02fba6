"""``textvae image train|evaluate|sample|plot``: thin wrappers over textvae.image.

Registered on the main parser by :func:`add_image_commands`. Heavy imports (torch, matplotlib)
happen inside the handlers, so ``textvae --help`` stays instant. User errors are
:class:`~textvae.errors.TextVAEError` and reach the user as ``textvae: error: ...`` (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from textvae.errors import TextVAEError

PLOTS = ("samples", "reconstructions", "manifold", "traversals", "curves")
CURVE_KEYS = ("neg_elbo", "kl", "reconstruction", "mse_per_image", "codebook_usage")
# The MIG sprites are drawn with seed MIG_SEED_OFFSET + --seed: a stream apart from the data's
# (data.sprites_seed, small by convention) and from the beta-VAE metric's (--seed).
MIG_SEED_OFFSET = 7_919


def _config(args: argparse.Namespace):
    from textvae.image.config import load_image_config

    return load_image_config(args.config, args.overrides)


def _cmd_train(args: argparse.Namespace) -> int:
    from textvae.image.train import train_image

    cfg = _config(args)
    if args.device is not None:
        cfg.train.device = args.device
    result = train_image(cfg, resume=args.resume, progress=not args.no_progress)
    return 130 if result.stopped.startswith("received") else 0


def _test_images(cfg, split: str, max_images: int | None, offset: int = 0):
    """The evaluation copy of a split (binarized once with the fixed seed) and its labels,
    optionally images [offset, offset + max_images) of it. The whole split is binarized before
    slicing, so a slice sees exactly the pixels that a full evaluation sees."""
    from textvae.image.data import evaluation_images, load_image_splits

    data = load_image_splits(cfg.data, splits=(split,))
    if split not in data.images:
        raise TextVAEError(f"the run's data has no {split!r} split (data.valid_size is 0?)")
    images = evaluation_images(cfg.data, data.images[split], split)
    end = None if max_images is None else offset + max_images
    return images[offset:end], data.labels[split][offset:end]


def evaluate_run(
    run: str, *, split: str = "test", iw_k: int = 5000, iw_chunk: int = 500,
    max_images: int | None = None, offset: int = 0, device: str = "auto", seed: int = 0,
    beta_vae_train: int = 5000, beta_vae_test: int = 2000, mig_images: int = 10000, log=print,
) -> dict:
    """Every metric that applies to a run's model and data, as one dict (units in the names)."""
    import math
    import time

    from textvae.image.evaluate import bits_per_dim, evaluate_images, iw_nll
    from textvae.image.models import ImageVAE
    from textvae.image.train import load_image_model

    model, cfg, meta = load_image_model(run, device)
    images, _labels = _test_images(cfg, split, max_images, offset)
    if len(images) == 0:
        raise TextVAEError(f"no {split} images from offset {offset}")
    result: dict = {"run": str(run), "step": meta["step"], "split": split, "offset": offset,
                    "images": len(images), "pixels": cfg.data.pixels}
    result.update(evaluate_images(model, images, seed=seed))
    dims = images[0].numel()
    if isinstance(model, ImageVAE) and iw_k > 0:
        start = time.monotonic()
        every = max(len(images) // 10, 1)

        def progress(done: int) -> None:
            if done % every < 20 or done == len(images):
                log(f"  IW-NLL: {done}/{len(images)} images ({time.monotonic() - start:.0f} s)")

        iw = iw_nll(model, images, k=iw_k, chunk=iw_chunk, seed=seed, progress=progress)
        result["iw_nll_nats_per_image"] = iw["nll_nats_per_image"]
        result["iw_k"] = iw_k
        result["iw_seconds"] = time.monotonic() - start
        if cfg.data.pixels == "grey":
            result["bits_per_dim"] = bits_per_dim(iw["nll_nats_per_image"], dims)
    elif isinstance(model, ImageVAE) and cfg.data.pixels == "grey":
        # Without importance sampling, the -ELBO bounds the NLL; bits/dim from that bound.
        result["bits_per_dim_bound"] = bits_per_dim(result["neg_elbo"], dims)
    if cfg.data.source == "sprites" and cfg.model.model_type != "vqvae":
        result.update(sprite_metrics(model, seed=seed, n_mig=mig_images, n_train=beta_vae_train,
                                     n_test=beta_vae_test))
    result = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
              for k, v in result.items()}
    return result


def sprite_metrics(model, *, seed: int = 0, n_mig: int = 10000, n_train: int = 5000,
                   n_test: int = 2000) -> dict:
    """MIG (histogram estimate, 20 bins) on the posterior means of ``n_mig`` freshly rendered
    sprites, their factors uniform over the whole grid (seeded by ``seed``); and the beta-VAE
    metric on ``n_train`` / ``n_test`` examples of 64 freshly rendered pairs each. See
    textvae.image.disentangle for the exact variants.

    Why fresh sprites for MIG rather than the 2,000 test sprites: the plug-in MI of a 20-bin code
    against a 32-value factor is biased by about (20 - 1)(32 - 1) / 2N nats, 0.15 nats at
    N = 2,000, and noisy to match; 10,000 (the number disentanglement_lib uses) cuts it to 0.03.
    """
    from textvae.image.disentangle import beta_vae_metric, mig
    from textvae.image.generate import encode_means
    from textvae.image.sprites import make_sprites

    def encode(x):
        return encode_means(model, x)

    images, factors = make_sprites(n_mig, seed=MIG_SEED_OFFSET + seed)  # (N, 1, 64, 64), (N, 5)
    m = mig(encode(images), factors)
    b = beta_vae_metric(encode, seed=seed, n_train=n_train, n_test=n_test)
    return {"mig": m["mig"], "mig_per_factor": m["per_factor"], "mig_images": n_mig,
            "beta_vae_accuracy": b["accuracy"], "beta_vae_train_accuracy": b["train_accuracy"],
            "beta_vae_examples": [n_train, n_test]}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    result = evaluate_run(
        args.run, split=args.split, iw_k=args.iw_k, iw_chunk=args.iw_chunk,
        max_images=args.max_images, offset=args.offset, device=args.device, seed=args.seed,
        beta_vae_train=args.beta_vae_train, beta_vae_test=args.beta_vae_test,
        mig_images=args.mig_images, log=lambda msg: print(msg, file=sys.stderr),
    )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    args.kind = "samples"
    return _cmd_plot(args)


def _cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from textvae.image import pictures

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
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
            path = pictures.plot_curves(metrics, out, keys=keys)
        except ValueError as err:
            raise TextVAEError(str(err)) from None
        print(f"wrote {path}")
        return 0

    from textvae.image.generate import decode_mean, encode_means, reconstruct, sample_images
    from textvae.image.models import ImageVAE
    from textvae.image.train import load_image_model

    model, cfg, _ = load_image_model(args.run, args.device)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(args.seed)
    if args.kind == "samples":
        path = pictures.save_grid(sample_images(model, args.n, generator=generator).cpu(), out)
    elif args.kind == "reconstructions":
        images, _ = _test_images(cfg, "test", args.n)
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
            images, _ = _test_images(cfg, "test", 1)
            z0 = encode_means(model, images)[0]
            path = pictures.save_traversals(decode, z0, out)
    print(f"wrote {path}")
    return 0


def add_image_commands(commands) -> None:
    """Add ``image`` and its subcommands to the main parser's subparsers."""
    from textvae.cli import _add_config_args, positive_int

    image = commands.add_parser(
        "image", help="image VAEs (MNIST, sprites): train, evaluate, sample, plot"
    )
    sub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)

    train = sub.add_parser("train", help="train an image model from a config (configs/mnist_*.yaml)")
    _add_config_args(train)
    train.add_argument("--device", help="override train.device: auto, cpu, cuda, cuda:N")
    train.add_argument("--resume", action="store_true", help="continue the run in train.out_dir")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    evaluate.add_argument("--out", help="also write the JSON here")
    evaluate.set_defaults(func=_cmd_evaluate)

    def picture_args(p, n_default: int) -> None:
        p.add_argument("run", help="a run directory or checkpoint (for curves: a run directory)")
        p.add_argument("--out", required=True, help="the PNG to write")
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
