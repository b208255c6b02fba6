"""Diagonal-Gaussian maths shared by every VAE in textvae (text and image).

Shapes: B = batch, Z = latent size. ``logvar`` is log(sigma^2).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


# DU-VAE's variance floor is written as a rate alpha: sigma^2 >= alpha / (2 pi e), which keeps each
# dimension's entropy 0.5 * log(2 pi e sigma^2) at or above 0.5 * log(alpha) (0 nats at alpha = 1).
VARIANCE_FLOOR_UNIT = 1.0 / (2.0 * math.pi * math.e)


def check_posterior_options(bn_gamma: float | None, var_dropout: float, var_floor: float) -> None:
    """Validate the BN-VAE / DU-VAE options of a posterior head (``model.posterior_*``)."""
    if bn_gamma is not None and not bn_gamma > 0:
        raise ValueError(f"model.posterior_bn_gamma must be positive or null, got {bn_gamma}")
    if not 0.0 <= var_dropout < 1.0:
        raise ValueError(f"model.posterior_var_dropout must be in [0, 1), got {var_dropout}")
    if not var_floor >= 0.0:
        raise ValueError(f"model.posterior_var_floor must be >= 0, got {var_floor}")
    if var_dropout > 0 and var_floor == 0:
        raise ValueError("model.posterior_var_dropout needs model.posterior_var_floor > 0 (DU-VAE "
                         "uses 1.0): a dropped variance of 0 would make the KL infinite")


def floored_log_variance(raw_logvar: Tensor, floor_rate: float, drop: float, training: bool) -> Tensor:
    """DU-VAE's posterior variances (Shen et al. 2021, "Regularizing Variational Autoencoder
    with Diversity and Uncertainty Awareness"): sigma^2 = exp(raw) + floor, and while training,
    dropout on the part above the floor: each dimension's exp(raw) is zeroed with probability
    ``drop`` and the rest scaled by 1 / (1 - drop), so a dropped dimension of a sentence has the
    floor's variance for that step (a near-certain code the KL must pay for) and the batch's
    expected variance is unchanged. The KL and the sample both use the result.

    Args:
        raw_logvar: (..., Z) the encoder's log-variances.
        floor_rate: alpha >= 0; the floor is alpha / (2 pi e). Must be > 0 when ``drop`` > 0
            (a dropped variance of 0 has no logarithm).
        drop: dropout probability in [0, 1) on the variances, in training only.
        training: apply the dropout.

    Returns:
        (..., Z) log-variances.
    """
    if floor_rate == 0.0 and drop == 0.0:
        return raw_logvar
    variance = raw_logvar.exp()
    if training and drop > 0.0:
        variance = F.dropout(variance, p=drop, training=True)
    return torch.log(variance + floor_rate * VARIANCE_FLOOR_UNIT)


class FixedScaleBatchNorm(nn.Module):
    """BN-VAE's head on the posterior means (Zhu et al. 2020, "A Batch Normalized Inference
    Network Keeps the KL Vanishing Away"): batch normalization with a fixed scale ``gamma`` and a
    learned shift ``beta``. Over a batch each normalized mean has E[mu_d^2] = gamma^2 + beta_d^2,
    and KL(q || N(0, I)) >= mu^2 / 2 per dimension, so the batch's mean KL is at least
    Z * gamma^2 / 2 (7.84 nats for Z = 32 at gamma = 0.7): the KL cannot vanish.

    Why ``eps`` is 1e-12, not BN's usual 1e-5: over a batch the normalized means' squares sum to
    B * gamma^2 * v / (v + eps) for a pre-normalization variance v, so eps leaves the KL one way
    down, shrinking v. Adam follows that small, steady gradient: on PTB (Adam at 1e-3, gamma 0.7)
    the encoder drove v to about 1e-9 within two epochs and the validation KL fell to 0.75 nats
    against a floor of 7.84. At 1e-12 the pull is 10^7 times weaker at the same v.

    Training batches use their own statistics and update running ones; evaluation (and a
    training batch of one sentence, which has no variance) uses the running statistics, which
    checkpoints keep as buffers.
    """

    # Buffers (saved with the weights, never trained): (Z,) each.
    gamma: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, dim: int, gamma: float, *, momentum: float = 0.1, eps: float = 1e-12) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.beta = nn.Parameter(torch.zeros(dim))  # (Z,)
        self.register_buffer("gamma", torch.full((dim,), float(gamma)))  # fixed, not learned
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))

    def forward(self, mu: Tensor) -> Tensor:
        """mu (B, Z) -> normalized (B, Z)."""
        batch_stats = self.training and mu.shape[0] > 1
        normed = F.batch_norm(mu, self.running_mean, self.running_var, training=batch_stats,
                              momentum=self.momentum, eps=self.eps)
        return normed * self.gamma + self.beta
