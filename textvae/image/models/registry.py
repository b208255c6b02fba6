"""The image models by ``model.model_type``: a small explicit registry and its builder.

It lives apart from :mod:`textvae.image.models.vae` because VQ-VAE-2 (:mod:`textvae.image.models.vqvae2`)
builds on that module's parts: the registry sees both without an import cycle.
"""

from __future__ import annotations

from torch import nn

from textvae.image.models.vae import VQVAE, ImageAE, ImageModelConfig, ImageVAE
from textvae.image.models.vqvae2 import VQVAE2

MODELS: dict[str, type[nn.Module]] = {"vae": ImageVAE, "ae": ImageAE, "vqvae": VQVAE,
                                      "vqvae2": VQVAE2}
# The models with discrete code levels (``code_levels``, ``encode_codes``, ``decode_code_maps``):
# what a prior over codes is trained on.
VQ_MODELS = (VQVAE, VQVAE2)
VQModel = VQVAE | VQVAE2


def build_image_model(cfg: ImageModelConfig) -> nn.Module:
    """The model that ``cfg.model_type`` names, freshly initialised."""
    return MODELS[cfg.model_type](cfg)
