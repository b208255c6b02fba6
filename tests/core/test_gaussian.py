import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from textvae.core.gaussian import (
    VARIANCE_FLOOR_UNIT,
    FixedScaleBatchNorm,
    check_posterior_options,
    floored_log_variance,
    kl_standard_normal,
    log_normal,
    log_standard_normal,
    reparameterize,
)

B, Z = 5, 7


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(B, Z, generator=gen)
    logvar = torch.randn(B, Z, generator=gen)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_standard_normal(mu, logvar), expected)


def test_log_densities_match_torch_distributions():
    gen = torch.Generator().manual_seed(1)
    z, mu, logvar = (torch.randn(B, Z, generator=gen) for _ in range(3))
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal(z, mu, logvar), expected)
    torch.testing.assert_close(log_standard_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


def test_reparameterize_is_seeded_and_has_the_right_moments():
    mu = torch.full((20000, Z), 1.5)
    logvar = torch.full((20000, Z), 2 * torch.log(torch.tensor(0.3)).item())
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert abs(a.mean().item() - 1.5) < 0.01
    assert abs(a.std().item() - 0.3) < 0.01


def test_reparameterize_passes_gradients():
    mu = torch.zeros(B, Z, requires_grad=True)
    logvar = torch.zeros(B, Z, requires_grad=True)
    reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert logvar.grad.abs().sum() > 0


def test_closed_form_kl_matches_monte_carlo():
    # KL(q || p) = E_q[log q(z) - log N(z; 0, I)], estimated with 200,001 draws.
    gen = torch.Generator().manual_seed(5)
    mu = torch.randn(3, Z, generator=gen, dtype=torch.float64)
    logvar = torch.randn(3, Z, generator=gen, dtype=torch.float64)
    z = reparameterize(mu.expand(200001, 3, Z), logvar.expand(200001, 3, Z), gen)
    terms = log_normal(z, mu, logvar) - log_standard_normal(z)  # (200001, 3)
    se = terms.std(0) / terms.shape[0] ** 0.5
    gap = (terms.mean(0) - kl_standard_normal(mu, logvar).sum(-1)).abs()
    assert (gap < 4 * se).all()


def test_bn_vae_keeps_the_batch_kl_above_its_floor():
    """Zhu et al. 2020: with the posterior means batch-normalized at a fixed scale gamma, the
    batch's mean KL is at least Z * gamma^2 / 2, however small the encoder makes the means."""
    gen = torch.Generator().manual_seed(3)
    norm = FixedScaleBatchNorm(32, 0.7)
    mu = 0.3 * torch.randn(37, 32, generator=gen) + 5.0  # (B, Z): all near 5, batch variance >> eps
    logvar = torch.zeros(37, 32)  # sigma = 1: the variance term adds nothing to the KL
    kl = kl_standard_normal(norm(mu), logvar).sum(1).mean()
    assert kl >= 32 * 0.7**2 / 2 * (1 - 1e-3)  # 7.84 nats
    assert kl_standard_normal(mu * 0, logvar).sum() == 0  # without the head the KL vanishes


def test_bn_vae_floor_survives_an_encoder_that_shrinks_its_means():
    """A trained PTB encoder shrank its means' batch variance to about 1e-9, under BN's usual
    eps of 1e-5, which let the KL fall to 0.75 nats against a floor of 7.84: the head's eps
    must be small enough for the floor to hold there."""
    gen = torch.Generator().manual_seed(13)
    norm = FixedScaleBatchNorm(32, 0.7)
    mu = 3e-5 * torch.randn(41, 32, generator=gen) + 0.2  # (B, Z): batch variance ~1e-9
    kl = kl_standard_normal(norm(mu), torch.zeros(41, 32)).sum(1).mean()
    assert kl >= 32 * 0.7**2 / 2 * (1 - 1e-2)  # float32 variances of values near 0.2: 1e-3 off


def test_bn_vae_evaluates_with_running_statistics_that_the_state_dict_keeps():
    gen = torch.Generator().manual_seed(5)
    norm = FixedScaleBatchNorm(7, 0.6, momentum=0.5)
    for _ in range(3):
        norm(torch.randn(11, 7, generator=gen) * 2 + 1)  # training batches move the running stats
    with torch.no_grad():
        norm.beta.fill_(0.25)
    norm.eval()
    x = torch.randn(5, 7, generator=gen)
    expected = (x - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps) * 0.6 + 0.25
    torch.testing.assert_close(norm(x), expected)
    copy = FixedScaleBatchNorm(7, 0.6).eval()
    copy.load_state_dict(norm.state_dict())  # gamma, beta and the running statistics
    torch.testing.assert_close(copy(x), expected)
    assert not copy.gamma.requires_grad and copy.beta.requires_grad
    norm.train()
    one = norm(x[:1])  # a one-sentence training batch has no variance: running statistics
    torch.testing.assert_close(one, expected[:1])


def test_du_vae_variances_sit_on_a_floor_and_dropout_acts_in_training_only():
    """Shen et al. 2021: sigma^2 = exp(raw) + alpha / (2 pi e); in training the part above the
    floor is dropped with probability p and the rest scaled by 1 / (1 - p)."""
    gen = torch.Generator().manual_seed(11)
    raw = torch.randn(301, 7, generator=gen)  # (B, Z)
    floor = 1.5 * VARIANCE_FLOOR_UNIT
    assert VARIANCE_FLOOR_UNIT == pytest.approx(1 / (2 * math.pi * math.e))
    evaluated = floored_log_variance(raw, 1.5, 0.3, training=False)
    torch.testing.assert_close(evaluated, torch.log(raw.exp() + floor))  # no dropout
    torch.manual_seed(0)
    trained = floored_log_variance(raw, 1.5, 0.3, training=True)
    dropped = torch.isclose(trained, torch.full_like(trained, math.log(floor)))
    assert 0.25 < dropped.float().mean() < 0.35  # about p of the 2,107 variances
    kept = ~dropped
    torch.testing.assert_close(trained[kept], torch.log(raw.exp()[kept] / 0.7 + floor))
    assert (trained >= math.log(floor) - 1e-6).all()
    assert floored_log_variance(raw, 0.0, 0.0, training=True) is raw  # both off: untouched


@pytest.mark.parametrize("gamma, drop, floor, needle", [
    (0.0, 0.0, 0.0, "posterior_bn_gamma"),
    (None, 1.0, 1.0, "posterior_var_dropout"),
    (None, 0.0, -0.5, "posterior_var_floor"),
    (0.5, 0.2, 0.0, "needs model.posterior_var_floor"),
])
def test_bad_posterior_options_are_refused_by_name(gamma, drop, floor, needle):
    with pytest.raises(ValueError, match=needle):
        check_posterior_options(gamma, drop, floor)
