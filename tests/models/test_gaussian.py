import torch
from torch.distributions import Normal, kl_divergence

from textvae.models.gaussian import (
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
