"""Diagonal-Gaussian maths shared by every VAE in textvae (text and image).

Shapes: B = batch, Z = latent size. ``logvar`` is log(sigma^2).
"""

import math

import torch
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


def reparameterize(
    mu: Tensor,
    logvar: Tensor,
    generator: torch.Generator | None = None,
    eps: Tensor | None = None,
) -> Tensor:
    """Draw z = mu + sigma * eps with eps ~ N(0, I) (Kingma & Welling 2014).

    Args:
        mu: (..., Z) posterior means.
        logvar: (..., Z) posterior log-variances.
        generator: optional seeded generator, for reproducible draws.
        eps: (..., Z) the standard-normal noise itself, drawn by the caller (distributed
            training draws a whole global batch's noise on every rank and hands each rank its
            rows, so the run matches a single process). Overrides ``generator``.

    Returns:
        (..., Z) samples, differentiable with respect to ``mu`` and ``logvar``.
    """
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    elif eps.shape != mu.shape:
        raise ValueError(f"eps has shape {tuple(eps.shape)}, expected {tuple(mu.shape)}")
    return mu + torch.exp(0.5 * logvar) * eps


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, per dimension, in nats.

    Returns:
        (..., Z): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2). Sum over the last axis for the total.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last axis. Broadcasts over leading axes."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * (_LOG_2PI + z.pow(2)).sum(-1)
