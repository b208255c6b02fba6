"""The evaluation report of an image run: every metric that applies to its model and data.

:func:`evaluate_run` loads a run's checkpoint, reads the evaluation copy of a split
(:func:`test_images`) and gathers the ELBO and reconstruction metrics, the importance-weighted
NLL and bits per dimension (:mod:`textvae.image.objectives.evaluate`) and, for sprite runs, MIG and the
beta-VAE metric (:func:`sprite_metrics`, :mod:`textvae.image.objectives.disentangle`) into one dict whose
keys carry their units. ``textvae image evaluate`` prints it; the CLI holds no logic of its own.

Shapes: N = images, C = channels, H x W = image size, Z = latent size, F = factors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from textvae.core.errors import TextVAEError
from textvae.image.models.vae import ImageVAE
from textvae.image.objectives.disentangle import beta_vae_metric, mig
from textvae.image.objectives.evaluate import bits_per_dim, evaluate_images, iw_nll
from textvae.image.pixels.sprites import make_sprites
from textvae.image.run.config import ImageConfig, SemiSupConfig, class_factor
from textvae.image.run.data import evaluation_images, load_image_splits
from textvae.image.training.train import load_image_model
from textvae.image.use.generate import encode_means
from textvae.image.use.restore_run import checkerboard_metrics, degraded_split, restoration_report

# The MIG sprites are drawn with seed MIG_SEED_OFFSET + seed: a stream apart from the data's
# (data.sprites_seed, small by convention) and from the beta-VAE metric's (seed itself).
MIG_SEED_OFFSET = 7_919


def test_images(
    cfg: ImageConfig | SemiSupConfig, split: str, max_images: int | None, offset: int = 0
) -> tuple[Tensor, Tensor]:
    """The evaluation copy of a split (binarized once with the fixed seed) and its labels,
    optionally images [offset, offset + max_images) of it. The whole split is binarized before
    slicing, so a slice sees exactly the pixels that a full evaluation sees.

    Returns:
        (images (N, C, H, W), labels (N,)).

    Raises:
        TextVAEError: the run's data has no such split.
    """
    data = load_image_splits(cfg.data, splits=(split,), class_factor=class_factor(cfg))
    if split not in data.images:
        raise TextVAEError(f"the run's data has no {split!r} split (data.valid_size is 0?)")
    images = evaluation_images(cfg.data, data.images[split], split)
    end = None if max_images is None else offset + max_images
    return images[offset:end], data.labels[split][offset:end]


# pytest would collect the module-level function above as a test of whatever test file imports
# it by name; it is not one.
test_images.__dict__["__test__"] = False  # a function's attribute, unknown to mypy


def evaluate_run(
    run: str | Path, *, split: str = "test", iw_k: int = 5000, iw_chunk: int = 500,
    max_images: int | None = None, offset: int = 0, device: str = "auto", seed: int = 0,
    beta_vae_train: int = 5000, beta_vae_test: int = 2000, mig_images: int = 10000,
    log: Callable[[str], None] = print,
) -> dict:
    """Every metric that applies to a run's model and data, as one dict (units in the names).

    Args:
        run: a run directory or checkpoint.
        split: ``valid`` or ``test``.
        iw_k: importance samples for the NLL (0 skips it; VAEs only).
        iw_chunk: samples decoded at once (the memory bound).
        max_images, offset: evaluate images [offset, offset + max_images) of the split only.
        device: where to run (``auto``, ``cpu``, ``cuda``, ...).
        seed: seeds the posterior samples, the beta-VAE metric and (offset) the MIG sprites.
        beta_vae_train, beta_vae_test, mig_images: sizes of the sprite metrics.
        log: where progress lines go.

    Raises:
        TextVAEError: no images to evaluate, or the errors of loading the run.
    """
    model, cfg, meta = load_image_model(run, device)
    images, _labels = test_images(cfg, split, max_images, offset)  # (N, C, H, W)
    if len(images) == 0:
        raise TextVAEError(f"no {split} images from offset {offset}")
    result: dict = {"run": str(run), "step": meta["step"], "split": split, "offset": offset,
                    "images": len(images), "pixels": cfg.data.pixels}
    restoring = cfg.data.degrade != "none"
    if restoring:  # image-to-image: the encoder sees one fixed degradation of the split
        images, degraded = degraded_split(cfg, split, max_images, offset)
    result.update(evaluate_images(model, images, seed=seed,
                                  inputs=degraded.encoder_input if restoring else None))
    dims = images[0].numel()  # C * H * W
    if restoring:  # PSNRs and baselines instead of the likelihood of the clean images
        result.update(restoration_report(model, cfg, images, degraded))
    elif isinstance(model, ImageVAE) and cfg.model.architecture == "conv":
        result.update(checkerboard_metrics(model, cfg, split=split, seed=seed))
    if isinstance(model, ImageVAE) and iw_k > 0 and not restoring:
        start = time.monotonic()
        every = max(len(images) // 10, 1)

        def progress(done: int) -> None:
            # About ten lines per evaluation (iw_nll reports every batch of 20 images).
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
    if cfg.data.source == "sprites" and cfg.model.model_type not in ("vqvae", "vqvae2"):
        result.update(sprite_metrics(model, seed=seed, n_mig=mig_images, n_train=beta_vae_train,
                                     n_test=beta_vae_test))
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
            for k, v in result.items()}


def sprite_metrics(model: nn.Module, *, seed: int = 0, n_mig: int = 10000, n_train: int = 5000,
                   n_test: int = 2000) -> dict:
    """MIG (histogram estimate, 20 bins) on the posterior means of ``n_mig`` freshly rendered
    sprites, their factors uniform over the whole grid (seeded by ``MIG_SEED_OFFSET + seed``);
    and the beta-VAE metric on ``n_train`` / ``n_test`` examples of 64 freshly rendered pairs
    each (seeded by ``seed``). See textvae.image.objectives.disentangle for the exact variants.

    Why fresh sprites for MIG rather than the 2,000 test sprites: the plug-in MI of a 20-bin code
    against a 32-value factor is biased by about (20 - 1)(32 - 1) / 2N nats, 0.15 nats at
    N = 2,000, and noisy to match; 10,000 (the number disentanglement_lib uses) cuts it to 0.03.
    """

    def encode(x: Tensor) -> Tensor:
        return encode_means(model, x)  # (M, 1, 64, 64) -> (M, Z)

    images, factors = make_sprites(n_mig, seed=MIG_SEED_OFFSET + seed)  # (N, 1, 64, 64), (N, F)
    m = mig(encode(images), factors)
    b = beta_vae_metric(encode, seed=seed, n_train=n_train, n_test=n_test)
    return {"mig": m["mig"], "mig_per_factor": m["per_factor"], "mig_images": n_mig,
            "beta_vae_accuracy": b["accuracy"], "beta_vae_train_accuracy": b["train_accuracy"],
            "beta_vae_examples": [n_train, n_test]}
