"""Images out of a trained model: prior samples, reconstructions, decoded latents.

Every function returns images in [0, 1] (the decoder's mean: sigmoid of the Bernoulli logits, or
the Gaussian mean), shape (N, C, H, W). Randomness comes from an explicit generator.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textvae.core.errors import TextVAEError
from textvae.image.models.vae import VQVAE, ImageAE, ImageVAE
from textvae.image.models.vqvae2 import VQVAE2

# The models with one latent that ``encode`` gives and ``decode`` reads (the VQ-VAE's: its
# encoder output and quantized map); VQ-VAE-2's two levels have no such pair.
_ONE_LATENT = (ImageVAE, ImageAE, VQVAE)


def _one_latent(model: nn.Module) -> ImageVAE | ImageAE | VQVAE:
    if not isinstance(model, _ONE_LATENT):
        raise TextVAEError(f"a {type(model).__name__} has no single latent to encode or decode; "
                           "this needs a VAE, an autoencoder or a VQ-VAE")
    return model


@torch.no_grad()
def decode_mean(model: nn.Module, z: Tensor) -> Tensor:
    """Latents (M, Z) -> mean images (M, C, H, W) in [0, 1]."""
    decoder = _one_latent(model)
    return decoder.likelihood.mean(decoder.decode(z))


@torch.no_grad()
def sample_images(model: nn.Module, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Decode n draws z ~ N(0, I) of a VAE's prior: (n, C, H, W) mean images.

    Raises:
        TextVAEError: for the autoencoder and the VQ-VAE, which have no prior to sample from
            (a VQ-VAE needs a separately trained prior over its codes).
    """
    if not isinstance(model, ImageVAE):
        raise TextVAEError(
            f"a {type(model).__name__} has no prior to sample from; sampling needs a VAE "
            "(model.model_type: vae)"
        )
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim, generator=generator, device=device)
    return decode_mean(model, z)


@torch.no_grad()
def reconstruct(model: nn.Module, x: Tensor) -> Tensor:
    """Images (N, C, H, W) -> the decoder's mean image of their posterior mean code (or the
    deterministic / quantized code), (N, C, H, W)."""
    device = next(model.parameters()).device
    x = x.to(device)
    if isinstance(model, ImageVAE):
        mu, _ = model.encode(x)
        return decode_mean(model, mu)
    if not isinstance(model, (ImageAE, VQVAE, VQVAE2)):
        raise TextVAEError(f"a {type(model).__name__} is not an image model: nothing to reconstruct")
    return model.likelihood.mean(model(x).recon)


@torch.no_grad()
def encode_means(model: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Images (N, C, H, W) -> posterior means (N, Z) (the code itself for the autoencoder)."""
    encoder = _one_latent(model)
    device = next(encoder.parameters()).device
    outs = []
    for batch in x.split(batch_size):
        code = encoder.encode(batch.to(device))
        outs.append((code[0] if isinstance(code, tuple) else code).cpu())
    return torch.cat(outs)
