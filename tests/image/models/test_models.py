import pytest
import torch

from textvae.core.errors import ConfigError
from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import (
    VQVAE,
    ImageAE,
    ImageModelConfig,
    ImageVAE,
)
from textvae.image.objectives.evaluate import image_objective
from textvae.image.run.config import ImageConfig
from textvae.text.run.config import from_dict

# Odd, distinct sizes: 3 channels, side 12 (divisible by 4 for two conv layers), batch 5.
B, C, S = 5, 3, 12
VARIANTS = {
    "mlp_vae_bernoulli": dict(hidden_dims=[13, 11], latent_dim=7),
    "mlp_vae_gaussian_tanh": dict(hidden_dims=[13], latent_dim=7, decoder="gaussian", activation="tanh"),
    "conv_vae_resize": dict(architecture="conv", channels=[5, 9], latent_dim=7),
    "conv_vae_transpose": dict(architecture="conv", channels=[5, 9], latent_dim=7, upsample="transpose"),
    "beta_vae": dict(hidden_dims=[13], latent_dim=7, beta=4.0),
    "ae": dict(model_type="ae", hidden_dims=[13], latent_dim=7),
    "conv_ae": dict(model_type="ae", architecture="conv", channels=[5, 9], latent_dim=7),
    "vqvae": dict(model_type="vqvae", architecture="conv", channels=[5, 9], codebook_size=11, code_dim=3),
    "vqvae_ema": dict(model_type="vqvae", architecture="conv", channels=[5, 9], codebook_size=11,
                      code_dim=3, ema=True),
}


def _cfg(**kw):
    return ImageModelConfig(image_channels=C, image_size=S, **kw)


@pytest.mark.parametrize("name", VARIANTS)
def test_shapes(name):
    torch.manual_seed(0)
    cfg = _cfg(**VARIANTS[name])
    model = build_image_model(cfg)
    x = torch.rand(B, C, S, S).bernoulli()
    out = model(x)
    assert out.recon.shape == (B, C, S, S)
    if cfg.model_type == "vae":
        assert out.mu.shape == out.logvar.shape == out.z.shape == (B, 7)
        assert model.decode(torch.randn(4, B, 7)).shape == (4, B, C, S, S)  # leading sample axis
    elif cfg.model_type == "ae":
        assert out.mu is None and out.z.shape == (B, 7)
    else:
        assert out.z.shape == (B, 3, S // 4, S // 4)
        assert out.codes.shape == (B, S // 4, S // 4) and out.codes.max() < 11
        assert out.vq_loss.shape == (B,)
    if cfg.decoder == "gaussian":
        assert ((out.recon > 0) & (out.recon < 1)).all()  # sigmoid means


@pytest.mark.parametrize("name", VARIANTS)
def test_a_train_step_changes_the_weights_and_lowers_the_loss(name, one_thread):
    torch.manual_seed(1)
    model = build_image_model(_cfg(**VARIANTS[name]))
    x = torch.rand(B, C, S, S).bernoulli()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        terms = image_objective(model, model(x, generator=gen), x)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
        losses.append(terms.loss.item())
    unchanged = [k for k, v in model.named_parameters() if torch.equal(before[k], v)]
    assert not unchanged
    assert losses[-1] < losses[0]


def test_beta_weights_only_the_kl_and_neg_elbo_is_at_beta_one():
    torch.manual_seed(2)
    x = torch.rand(B, C, S, S).bernoulli()
    m1 = build_image_model(_cfg(**VARIANTS["mlp_vae_bernoulli"]))
    m4 = build_image_model(_cfg(**VARIANTS["mlp_vae_bernoulli"], beta=4.0))
    m4.load_state_dict(m1.state_dict())
    out = m1(x, generator=torch.Generator().manual_seed(0))
    t1 = image_objective(m1, out, x)
    t4 = image_objective(m4, out, x, kl_weight=0.5)
    assert torch.allclose(t1.neg_elbo, t4.neg_elbo)
    assert torch.allclose(t4.loss, t1.reconstruction + 2.0 * t1.kl)  # beta 4 x schedule 0.5


def test_bernoulli_log_prob_matches_torch_distribution():
    model = build_image_model(_cfg(**VARIANTS["mlp_vae_bernoulli"]))
    logits = torch.randn(B, C, S, S)
    x = torch.rand(B, C, S, S).bernoulli()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.likelihood.log_prob(logits, x), expected, atol=1e-4)


def test_gaussian_log_prob_matches_torch_distribution():
    model = build_image_model(_cfg(**VARIANTS["mlp_vae_gaussian_tanh"]))
    with torch.no_grad():
        model.likelihood.logvar.copy_(torch.tensor([-1.0, 0.5, -3.0]))
    mean, x = torch.rand(B, C, S, S), torch.rand(B, C, S, S)
    std = (0.5 * model.likelihood.logvar.detach()).exp().view(1, C, 1, 1)
    expected = torch.distributions.Normal(mean, std).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.likelihood.log_prob(mean, x), expected, atol=1e-3)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model_type": "vqvae"}, "needs model.architecture 'conv'"),
        ({"architecture": "conv", "channels": [4, 4, 4]}, "not divisible by 8"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"latent_dim": 0}, "latent_dim must be positive"),
        ({"hidden_dims": [3, 0]}, "positive integers"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"upsample": "bilinear"}, "valid choices: 'resize', 'transpose'"),
    ],
)
def test_bad_model_configs_are_refused_with_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(ImageConfig, {"model": {"image_size": 12, **overrides}})


def test_registry_builds_the_named_class():
    assert isinstance(build_image_model(_cfg(**VARIANTS["ae"])), ImageAE)
    assert isinstance(build_image_model(_cfg(**VARIANTS["vqvae"])), VQVAE)
    assert isinstance(build_image_model(_cfg(**VARIANTS["beta_vae"])), ImageVAE)
