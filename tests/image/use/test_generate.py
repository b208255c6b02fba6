import pytest
import torch

from textvae.core.errors import TextVAEError
from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import ImageModelConfig
from textvae.image.use.generate import decode_mean, encode_means, reconstruct, sample_images


def _model(**kw):
    torch.manual_seed(0)
    return build_image_model(ImageModelConfig(image_size=12, hidden_dims=[13], latent_dim=7,
                                              channels=[5, 9], codebook_size=11, code_dim=3, **kw))


def test_samples_are_seeded_images_in_the_unit_interval():
    model = _model()
    a = sample_images(model, 5, generator=torch.Generator().manual_seed(1))
    b = sample_images(model, 5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (5, 1, 12, 12) and torch.equal(a, b)
    assert ((a > 0) & (a < 1)).all()


@pytest.mark.parametrize("kw", [dict(model_type="ae"), dict(model_type="vqvae", architecture="conv")])
def test_models_without_a_prior_refuse_to_sample(kw):
    with pytest.raises(TextVAEError, match="has no prior to sample from"):
        sample_images(_model(**kw), 3)


def test_reconstruction_decodes_the_posterior_mean():
    model = _model()
    x = torch.rand(5, 1, 12, 12).bernoulli()
    mu = encode_means(model, x, batch_size=2)
    assert mu.shape == (5, 7)
    assert torch.allclose(reconstruct(model, x), decode_mean(model, mu))
    vq = _model(model_type="vqvae", architecture="conv")
    assert reconstruct(vq, x).shape == (5, 1, 12, 12)
