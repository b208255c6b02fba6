"""Metrics on cases with known answers.

The linear-Gaussian latent model p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I) has an analytic
marginal, log p(x) = log N(x; b, W W^T + s^2 I), and an analytic ELBO for any diagonal q, so the
importance-weighted estimator can be checked exactly (data 5, latent 3, points 7)."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch.distributions import MultivariateNormal

from textvae.core.gaussian import kl_standard_normal
from textvae.core.metrics import (
    active_units,
    iw_log_weights,
    iw_nll_from_log_weights,
    linear_probe_accuracy,
    mutual_information,
    perplexity,
    reconstruction_accuracy,
)


def test_active_units_on_constructed_posterior_means():
    g = torch.Generator().manual_seed(0)
    n = 2001
    stds = torch.tensor([0.3, 0.05, 0.0, 1.0, 0.08, 0.12, 0.02])  # variances around 0.01
    mu = torch.randn(n, 7, generator=g) * stds + torch.arange(7.0)  # offsets do not count
    # Active: variance 0.09, 1.0, 0.0144 > 0.01; inactive: 0.0025, 0, 0.0064, 0.0004.
    assert active_units(mu) == 3
    assert active_units(mu, threshold=0.001) == 5
    assert active_units(mu[:1]) == 0  # one sentence has no spread


def test_perplexity_is_per_target_token():
    assert perplexity(0.0, 11) == 1.0
    assert perplexity(13 * math.log(37), 13) == pytest.approx(37.0)

# ---------------------------------------------------------------------------- the IW bound and MI
# A linear-Gaussian model, whose exact likelihood and posterior are known, so that the
# importance-weighted estimator can be checked exactly.

D, LZ, S = 5, 3, 7  # data dim, latent dim, data points of the linear-Gaussian model
S2 = 0.5  # observation noise variance s^2

# ---------------------------------------------------------------------------- linear Gaussian


def linear_gaussian(seed=0, *, orthogonal=False, shift=0.0, inflate=2.0):
    """A linear-Gaussian model, S points drawn from it, and a deliberately imperfect diagonal q.

    q(z|x) has the exact posterior mean shifted by ``shift`` and the diagonal of the exact
    (correlated) posterior covariance multiplied by ``inflate``: a diagonal, over-dispersed
    proposal, so the weights are light-tailed and the large-K check can be tight. With
    ``orthogonal`` columns of W the exact posterior is diagonal, so shift 0 and inflate 1 make q
    exact.
    """
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(D, LZ, generator=g, dtype=torch.float64)
    if orthogonal:
        q, _ = torch.linalg.qr(w)  # (D, Z) orthonormal columns
        w = q * torch.tensor([1.5, 0.7, 2.2], dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    z_true = torch.randn(S, LZ, generator=g, dtype=torch.float64)
    x = z_true @ w.T + b + math.sqrt(S2) * torch.randn(S, D, generator=g, dtype=torch.float64)
    precision = torch.eye(LZ, dtype=torch.float64) + w.T @ w / S2  # (Z, Z)
    cov = torch.linalg.inv(precision)
    post_mean = (x - b) @ w @ cov / S2  # (S, Z)
    mu = post_mean + shift
    logvar = torch.log(inflate * torch.diagonal(cov)).expand(S, LZ).clone()
    marginal = MultivariateNormal(b, w @ w.T + S2 * torch.eye(D, dtype=torch.float64))
    return SimpleNamespace(w=w, b=b, x=x, mu=mu, logvar=logvar, exact=marginal.log_prob(x))


def log_px_given_z(m, z):
    """log N(x; W z + b, s^2 I) for z (S, ..., Z) -> (S, ...)."""
    mean = z @ m.w.T + m.b  # (S, ..., D)
    x = m.x.view(S, *([1] * (z.dim() - 2)), D)
    return (-0.5 * (math.log(2 * math.pi * S2) + (x - mean).pow(2) / S2)).sum(-1)


def analytic_neg_elbo(m):
    """-E_q[log p(x|z)] + KL(q || N(0, I)), in closed form. (S,)"""
    var = m.logvar.exp()  # (S, Z)
    resid = (m.x - m.mu @ m.w.T - m.b).pow(2).sum(1)  # (S,)
    trace = (var * m.w.pow(2).sum(0)).sum(1)  # tr(W diag(var) W^T)
    expected_ll = -0.5 * D * math.log(2 * math.pi * S2) - (resid + trace) / (2 * S2)
    return -expected_ll + kl_standard_normal(m.mu, m.logvar).sum(1)


def iw_estimates(m, reps, k, seed):
    """(S, reps) independent K-sample IW-NLL estimates."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(S, reps, k, LZ, generator=g, dtype=torch.float64)
    z = m.mu[:, None, None] + torch.exp(0.5 * m.logvar)[:, None, None] * eps  # (S, R, K, Z)
    mu = m.mu[:, None].expand(S, reps, LZ)
    logvar = m.logvar[:, None].expand(S, reps, LZ)
    return iw_nll_from_log_weights(iw_log_weights(log_px_given_z(m, z), z, mu, logvar))


def test_exact_posterior_gives_the_exact_likelihood_at_k_1():
    # With orthogonal columns of W the true posterior is diagonal: every weight is p(x).
    m = linear_gaussian(3, orthogonal=True, shift=0.0, inflate=1.0)
    est = iw_estimates(m, reps=5, k=1, seed=0)  # (S, 5)
    torch.testing.assert_close(est, -m.exact[:, None].expand(S, 5), atol=1e-9, rtol=0)
    torch.testing.assert_close(analytic_neg_elbo(m), -m.exact, atol=1e-9, rtol=0)


def test_k_1_equals_the_elbo_in_expectation():
    m = linear_gaussian(0)
    est = iw_estimates(m, reps=20000, k=1, seed=1)  # (S, R)
    se = est.std(1) / math.sqrt(est.shape[1])
    gap = (est.mean(1) - analytic_neg_elbo(m)).abs()
    assert (gap < 4 * se).all(), (gap, se)
    assert (analytic_neg_elbo(m) > -m.exact + 1.0).all()  # q is imperfect: K matters here


def test_iw_bound_tightens_with_k_and_reaches_the_exact_value():
    m = linear_gaussian(0)
    n = 20000  # samples per point; E[L_K] is estimated over the n / K disjoint blocks
    g = torch.Generator().manual_seed(2)
    eps = torch.randn(S, n, LZ, generator=g, dtype=torch.float64)
    z = m.mu[:, None] + torch.exp(0.5 * m.logvar)[:, None] * eps  # (S, n, Z)
    log_w = iw_log_weights(log_px_given_z(m, z), z, m.mu, m.logvar)  # (S, n)
    means = []
    for k in (1, 10, 100, 1000):
        blocks = log_w.view(S, n // k, k)
        means.append(iw_nll_from_log_weights(blocks).mean(1))  # (S,)
    for tighter, looser in zip(means[1:], means[:-1], strict=True):
        assert (tighter <= looser).all()
    # An upper bound on the truth on average, up to Monte Carlo noise.
    assert (means[-1] > -m.exact - 0.02).all()
    # K = 5000 (mean of 8 estimates): within 0.03 nats of the exact -log p(x), where the K = 1
    # gap is over 1 nat.
    big = iw_estimates(m, reps=8, k=5000, seed=4).mean(1)
    assert (big + m.exact).abs().max() < 0.03


# ---------------------------------------------------------------------------- mutual information


def test_mi_of_well_separated_posteriors_is_log_m():
    m_points, copies = 7, 5
    g = torch.Generator().manual_seed(0)
    centres = 20.0 * torch.randn(m_points, LZ, generator=g)
    mu = centres.repeat(copies, 1)  # x uniform over 7 points, each seen 5 times
    logvar = torch.full_like(mu, math.log(0.1**2))
    z = mu + 0.1 * torch.randn(mu.shape, generator=g)
    assert mutual_information(mu, logvar, z) == pytest.approx(math.log(m_points), abs=1e-6)


def test_mi_of_identical_posteriors_is_zero():
    mu = torch.full((13, LZ), 0.3)
    logvar = torch.full((13, LZ), -0.5)
    z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    assert mutual_information(mu, logvar, z) == pytest.approx(0.0, abs=1e-9)


def test_mi_of_a_gaussian_channel():
    # x ~ N(0, tau^2 I), q(z|x) = N(x, sigma^2 I): I = Z/2 log(1 + tau^2 / sigma^2) nats.
    n, tau, sigma = 4001, 1.0, 0.5
    g = torch.Generator().manual_seed(2)
    mu = tau * torch.randn(n, LZ, generator=g)
    logvar = torch.full_like(mu, 2 * math.log(sigma))
    z = mu + sigma * torch.randn(mu.shape, generator=g)
    exact = 0.5 * LZ * math.log(1 + tau**2 / sigma**2)  # 2.414
    est = mutual_information(mu, logvar, z, chunk=97)
    assert est == pytest.approx(exact, abs=0.06)
    # Chunking only changes how the rows are grouped.
    assert mutual_information(mu, logvar, z, chunk=n) == pytest.approx(est, abs=1e-9)


# ---------------------------------------------------------------------------- text metrics


# ---------------------------------------------------------------------------- decodes and probes


def test_reconstruction_accuracy_known_answers():
    refs = [[5, 6, 7], [8, 9]]
    assert reconstruction_accuracy(refs, refs) == {"exact_match": 1.0, "token_accuracy": 1.0}
    # Row 1: 2 of 4 target positions (5, 6 right; 9 for 7 wrong; end missing: decode too long).
    # Row 2: a decode cut off at max_len, no end token: 2 of 3 (8, 9 right, end missing).
    got = reconstruction_accuracy(refs, [[5, 6, 9, 4], [8, 9]], decodes_ended=[True, False])
    assert got == {"exact_match": 0.0, "token_accuracy": pytest.approx(4 / 7)}
    # A decode that ends early: the missing positions count as wrong.
    assert reconstruction_accuracy([[5, 6, 7]], [[5]])["token_accuracy"] == pytest.approx(1 / 4)
    with pytest.raises(ValueError):
        reconstruction_accuracy(refs, refs[:1])


def test_linear_probe_known_answers():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(301, 7, generator=gen)
    labels = ["a" if v > 0 else "b" for v in (x[:, 2] - 0.5 * x[:, 4]).tolist()]
    # A linearly separable label is recovered almost perfectly.
    assert linear_probe_accuracy(x[:251], labels[:251], x[251:], labels[251:]) >= 0.9
    # A label independent of the features scores about chance.
    noise = [str(i % 3) for i in torch.randperm(301, generator=gen).tolist()]
    assert linear_probe_accuracy(x[:251], noise[:251], x[251:], noise[251:]) < 0.6
    # One training class: predict it.
    assert linear_probe_accuracy(x[:5], [True] * 5, x[5:9], [True, True, False, True]) == 0.75


# ------------------------------------------------------------------------------------ the report
