"""Image objectives and metrics: the per-batch loss, ELBO over a set, importance-weighted NLL,
reconstruction error, bits per dimension and VQ-VAE codebook usage.

Every metric is a function of a model (or codes) and tensors that returns plain numbers, with
the unit in the name. Shapes: N = images, B = batch, K = importance samples, Z = latent size.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from textvae.core.gaussian import kl_standard_normal, reparameterize
from textvae.core.metrics import iw_log_weights, iw_nll_from_log_weights
from textvae.core.objectives import LossTerms, vae_objective


def image_objective(model, out, x: Tensor, *, kl_weight: float = 1.0) -> LossTerms:
    """The training loss of one batch and its logged parts (nats per image).

    The VAE's loss is rec + beta * kl_weight * KL, where ``kl_weight`` is the shared KL
    schedule (:func:`textvae.core.objectives.kl_weight`) and beta the model's; ``neg_elbo`` is always
    at beta = 1. The AE has no KL; the VQ-VAE adds its codebook and commitment terms to the loss
    (``neg_elbo`` is then its reconstruction NLL, as the VQ-VAE's KL is a constant log K per code).
    """
    rec = -model.likelihood.log_prob(out.recon, x)  # (B,)
    kl_dim = None if out.mu is None else kl_standard_normal(out.mu.float(), out.logvar.float())
    terms = vae_objective(rec.float(), kl_dim, kl_weight=model.beta * kl_weight)
    if out.vq_loss is not None:
        terms = terms._replace(loss=terms.loss + out.vq_loss.float().mean())
    return terms


@torch.no_grad()
def evaluate_images(
    model, images: Tensor, *, batch_size: int = 500, seed: int = 0, device=None,
    inputs: Tensor | None = None,
) -> dict[str, float]:
    """Averages over a set, with one z ~ q(z|x) per image for the VAE.

    ``inputs`` (N, C, H, W), for image-to-image runs: what the encoder sees (the degraded
    images); the decoder is scored on ``images``. None: the images themselves.

    Returns:
        ``neg_elbo`` and ``kl`` (VAEs only), ``reconstruction`` (nats per image, beta = 1),
        ``mse_per_image``
        (squared error of the decoder's mean image, summed over pixels), ``mse_per_pixel``;
        for the VQ-VAE also ``codebook_usage`` and ``codebook_perplexity``; for VQ-VAE-2
        ``codebook_usage`` (the share of both codebooks' vectors in use) and, per level,
        ``codebook_usage_top`` / ``_bottom`` and ``codebook_perplexity_top`` / ``_bottom``.
    """
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    rec = kl = se = 0.0
    codes, top_codes = [], []  # the VQ-VAE's (VQ-VAE-2's bottom level's), VQ-VAE-2's top's
    is_vae = False
    inputs = images if inputs is None else inputs
    for batch, batch_inputs in zip(images.split(batch_size), inputs.split(batch_size), strict=True):
        x = batch.to(device)
        out = model(batch_inputs.to(device), generator=generator)
        rec += -model.likelihood.log_prob(out.recon, x).sum().item()
        if out.mu is not None:
            is_vae = True
            kl += kl_standard_normal(out.mu, out.logvar).sum().item()
        se += (model.likelihood.mean(out.recon) - x).pow(2).sum().item()
        if out.codes is not None:
            codes.append(out.codes.flatten().cpu())
        if out.top_codes is not None:
            top_codes.append(out.top_codes.flatten().cpu())
    model.train(was_training)
    n = len(images)
    # The AE and the VQ-VAE have no ELBO: only their reconstruction NLL is reported.
    result = {"neg_elbo": (rec + kl) / n} if is_vae else {}
    result["reconstruction"] = rec / n
    if is_vae:
        result["kl"] = kl / n
    result["mse_per_image"] = se / n
    result["mse_per_pixel"] = se / images[0].numel() / n
    if codes and not top_codes:
        usage = codebook_usage(torch.cat(codes), model.codebook_size)
        result["codebook_usage"] = usage["usage"]
        result["codebook_perplexity"] = usage["perplexity"]
    elif codes:  # VQ-VAE-2: each level, and the share of all its code vectors in use
        top = codebook_usage(torch.cat(top_codes), model.top_codebook_size)
        bottom = codebook_usage(torch.cat(codes), model.codebook_size)
        result["codebook_usage"] = (
            (top["used"] + bottom["used"]) / (model.top_codebook_size + model.codebook_size))
        for level, usage in (("top", top), ("bottom", bottom)):
            result[f"codebook_usage_{level}"] = usage["usage"]
            result[f"codebook_perplexity_{level}"] = usage["perplexity"]
    return result


@torch.no_grad()
def iw_nll(
    model,
    images: Tensor,
    *,
    k: int = 5000,
    chunk: int = 500,
    batch_size: int = 20,
    seed: int = 0,
    device=None,
    progress=None,
) -> dict[str, float]:
    """Importance-weighted NLL (Burda et al. 2016): -log mean_k p(x|z_k) p(z_k) / q(z_k|x),
    z_k ~ q(z|x), in nats per image. An upper bound on -log p(x) that tightens as K grows. The
    weights and the bound are :mod:`textvae.core.metrics`' (the text side's definitions).

    The K samples are drawn ``chunk`` at a time and combined with a running logsumexp, so memory
    is bounded by batch_size * chunk decoded images whatever K is.

    Args:
        model: a VAE (``encode`` returns mu, logvar).
        images: (N, C, H, W), already binarized for a Bernoulli decoder.
        progress: optional callable taking the number of images done.

    Returns:
        ``nll_nats_per_image`` (mean), ``k``, ``images``.
    """
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    done = 0
    for batch in images.split(batch_size):
        x = batch.to(device)  # (B, C, H, W)
        mu, logvar = model.encode(x)  # (B, Z)
        # log((1/K) * sum of the weights drawn so far), (B,) in float64: log mean_K w at the end.
        running = torch.full((len(x),), -math.inf, device=device, dtype=torch.float64)
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            # (M, B, Z), drawn samples-first: a given seed keeps drawing the same noise.
            z = reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *logvar.shape),
                               generator)
            log_px = model.likelihood.log_prob(model.decode(z), x)  # (M, B)
            # textvae.core.metrics takes samples on the second-to-last axis: (B, M) and (B, M, Z).
            log_w = iw_log_weights(log_px.t(), z.transpose(0, 1), mu, logvar)  # (B, M)
            # The K-sample mean is the chunk means weighted by M / K:
            # log mean_K w = logaddexp over chunks of (log mean_M w + log(M / K)), and
            # log mean_M w = -iw_nll_from_log_weights(log_w).
            chunk_mean = -iw_nll_from_log_weights(log_w.double())  # (B,)
            running = torch.logaddexp(running, chunk_mean + math.log(m / k))
        total += -running.sum().item()
        done += len(x)
        if progress is not None:
            progress(done)
    model.train(was_training)
    return {"nll_nats_per_image": total / len(images), "k": k, "images": len(images)}


def bits_per_dim(nll_nats: float, dims: int, levels: int = 256) -> float:
    """Bits per dimension of ``levels``-level data from a continuous density on [0, 1]^dims.

    A density p over pixels scaled to [0, 1] gives each discrete image the mass of its cell,
    about p(x) / levels^dims, so -log2 P = (nll_nats + dims * ln levels) / ln 2, per dimension.
    """
    return (nll_nats + dims * math.log(levels)) / (dims * math.log(2.0))


def codebook_usage(codes: Tensor, codebook_size: int) -> dict[str, float]:
    """How much of a VQ-VAE codebook a set of codes uses.

    Returns:
        ``used`` (codes chosen at least once), ``usage`` (used / K, in [0, 1]) and
        ``perplexity`` (exp of the entropy of the code frequencies: K for uniform use, 1 for one
        code).
    """
    counts = torch.bincount(codes.flatten(), minlength=codebook_size).double()
    p = counts / counts.sum()
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    used = int((counts > 0).sum())
    return {"used": used, "usage": used / codebook_size, "perplexity": math.exp(entropy)}
