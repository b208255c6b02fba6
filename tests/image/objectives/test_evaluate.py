import math

import pytest
import torch

from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import ImageModelConfig
from textvae.image.objectives.evaluate import (
    bits_per_dim,
    codebook_usage,
    evaluate_images,
    image_objective,
    iw_nll,
)

C, S = 1, 9  # 81 pixels


def _vae(**kw):
    torch.manual_seed(0)
    return build_image_model(ImageModelConfig(image_channels=C, image_size=S, hidden_dims=[13],
                                              latent_dim=7, **kw))


def test_iw_nll_is_exact_when_the_posterior_is_the_prior_and_the_decoder_ignores_z():
    # mu = 0, logvar = 0 (q = p) and constant logits b: every weight is p(x|z) = p(x), for any K.
    model = _vae()
    with torch.no_grad():
        model.net.to_latent.weight.zero_()
        model.net.to_latent.bias.zero_()
        last = model.net.from_latent[-1]
        last.weight.zero_()
        last.bias.copy_(torch.linspace(-2, 2, S * S))
    x = torch.rand(5, C, S, S).bernoulli()
    b = last.bias.detach().view(1, C, S, S)
    exact = -(x * b - torch.nn.functional.softplus(b)).flatten(1).sum(1).mean().item()
    for k, chunk in ((1, 1), (37, 5), (37, 37)):
        got = iw_nll(model, x, k=k, chunk=chunk, batch_size=3)["nll_nats_per_image"]
        assert got == pytest.approx(exact, abs=1e-4)


def test_iw_nll_tightens_with_k_and_lies_below_the_elbo():
    model = _vae()
    x = torch.rand(7, C, S, S).bernoulli()
    neg_elbo = evaluate_images(model, x.repeat(200, 1, 1, 1), seed=1)["neg_elbo"]  # averaged
    k1 = iw_nll(model, x, k=1, seed=2)["nll_nats_per_image"]
    k500 = iw_nll(model, x, k=500, chunk=61, seed=2)["nll_nats_per_image"]
    assert k500 < neg_elbo
    assert k500 < k1
    assert abs(k1 - neg_elbo) < 0.1 * neg_elbo  # K = 1 is an unbiased -ELBO estimate


def test_evaluate_images_reports_mse_of_the_mean_image():
    model = _vae()
    x = torch.rand(6, C, S, S).bernoulli()
    out = evaluate_images(model, x, batch_size=4)
    with torch.no_grad():
        mu, _ = model.encode(x)
    assert out["kl"] > 0 and out["reconstruction"] > 0
    assert out["neg_elbo"] == pytest.approx(out["reconstruction"] + out["kl"])
    assert out["mse_per_pixel"] == pytest.approx(out["mse_per_image"] / (C * S * S))
    assert 0 < out["mse_per_pixel"] < 1


def test_vqvae_evaluation_reports_codebook_usage():
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(
        model_type="vqvae", architecture="conv", image_size=12, channels=[5, 9],
        codebook_size=11, code_dim=3,
    ))
    out = evaluate_images(model, torch.rand(5, 1, 12, 12))
    assert 0 < out["codebook_usage"] <= 1 and 1 <= out["codebook_perplexity"] <= 11
    assert "neg_elbo" not in out and "kl" not in out  # a VQ-VAE has no ELBO to report
    terms = image_objective(model, model(torch.rand(5, 1, 12, 12)), torch.rand(5, 1, 12, 12))
    assert terms.loss > terms.reconstruction  # codebook + commitment terms are added
    assert terms.kl == 0


def test_codebook_usage_known_cases():
    uniform = codebook_usage(torch.arange(13).repeat(3), 13)
    assert uniform == {"used": 13, "usage": 1.0, "perplexity": pytest.approx(13.0)}
    one = codebook_usage(torch.full((9,), 4), 13)
    assert one["used"] == 1 and one["perplexity"] == pytest.approx(1.0)
    assert one["usage"] == pytest.approx(1 / 13)


def test_bits_per_dim_known_cases():
    assert bits_per_dim(0.0, 784) == pytest.approx(8.0)  # the uniform density on [0, 1]^D
    # A density 2^-D-higher than uniform (nll = -D ln 2) saves one bit per dimension.
    assert bits_per_dim(-784 * math.log(2), 784) == pytest.approx(7.0)
    assert bits_per_dim(0.0, 10, levels=2) == pytest.approx(1.0)
