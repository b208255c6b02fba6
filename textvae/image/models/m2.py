"""Kingma, Rezende, Mohamed & Welling 2014's semi-supervised models, for images: M2, M1+M2 and
the supervised-only baseline with M2's classifier.

- M2: a class y (one-hot, K classes) and a latent z (Z); MLPs for the classifier q(y|x), the
  encoder q(z|x,y) = N(mu, diag sigma^2) and the decoder p(x|y,z). Its inputs are pixels
  (Bernoulli decoder, for dynamically binarized MNIST).
- M1+M2: M2 over the latent z1 of a trained M1 VAE (:class:`~textvae.image.models.vae.ImageVAE`),
  which rides along frozen in :attr:`M2.m1` (its weights are part of the checkpoint, so loading
  needs nothing else). In training z1 is drawn from M1's q(z1|x), as in the paper; in use it is
  the posterior mean. The decoder is a Gaussian p(z1|y,z2) with a mean and a log-variance per
  dimension.
- ``classifier``: the classifier alone, trained on the labelled examples alone (the baseline).

The objective's terms (-L, -U, the classification term) are :mod:`textvae.core.semisupervised`'s and
are assembled in :mod:`textvae.image.objectives.m2_objective`; this module computes the reconstruction NLL
and KL they need. Models hold no device logic.

Shapes: B = batch, D = input size (pixels C*H*W, or M1's latent size), K = classes, Z = latent
size of M2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.core.gaussian import kl_standard_normal, reparameterize
from textvae.image.models.vae import ImageModelConfig, ImageVAE, _activation, _mlp

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class M2Config:
    """The semi-supervised model's hyperparameters (Kingma et al. 2014's defaults).

    ``model_type``: ``m2`` (the generative model with its classifier) or ``classifier`` (the
    classifier alone: the supervised-only baseline). ``m1_checkpoint``: a trained M1 run (an
    MLP VAE) whose posterior gives the inputs (M1+M2); null: pixels. ``m1`` is M1's model config,
    copied from that checkpoint when training starts (leave it unset).
    ``m1_inputs``: what of M1 the model reads: ``sample`` (z1 ~ q(z1|x) in training, the mean in
    use; the paper's) or ``active_means`` (the posterior means of M1's active units, in training
    too: the units whose mean varies over the training images by more than 0.01, Burda et al.
    2016's criterion; ``m1_active_units`` lists them, filled in when training starts).
    ``hidden_dims``: the encoder's layers (the decoder mirrors them); ``classifier_dims``: the
    classifier's hidden layers. ``classifier_architecture``: ``mlp`` (the paper's) or ``conv``
    (over pixels only: 3x3 convolutions of ``classifier_channels``, each followed by ReLU and 2x2
    max pooling, then the ``classifier_dims`` layers; the judge that scores generated images,
    :mod:`textvae.image.use.judge`).
    """

    model_type: Literal["m2", "classifier"] = "m2"
    image_channels: int = 1
    image_size: int = 28
    hidden_dims: list[int] = field(default_factory=lambda: [500])
    classifier_dims: list[int] = field(default_factory=lambda: [500])
    classifier_architecture: Literal["mlp", "conv"] = "mlp"
    classifier_channels: list[int] = field(default_factory=lambda: [32, 64])
    activation: Literal["relu", "tanh", "softplus"] = "softplus"
    latent_dim: int = 50
    m1_checkpoint: str | None = None
    m1: ImageModelConfig | None = None
    m1_inputs: Literal["sample", "active_means"] = "sample"
    m1_active_units: list[int] | None = None

    def __post_init__(self) -> None:
        for name in ("image_channels", "image_size", "latent_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if not self.hidden_dims or not self.classifier_dims:
            raise ValueError("model.hidden_dims and model.classifier_dims need at least one layer")
        if any(h <= 0 for h in [*self.hidden_dims, *self.classifier_dims]):
            raise ValueError("model.hidden_dims and model.classifier_dims must be positive integers")
        if self.classifier_architecture == "conv":
            if not self.classifier_channels or any(c <= 0 for c in self.classifier_channels):
                raise ValueError("model.classifier_channels must list positive channel counts")
            if self.image_size < 2 ** len(self.classifier_channels):
                raise ValueError(
                    f"model.image_size {self.image_size} is too small for "
                    f"{len(self.classifier_channels)} pooling layers (model.classifier_channels)")
            if self.m1_checkpoint is not None or self.m1 is not None:
                raise ValueError("model.classifier_architecture 'conv' reads pixels; it cannot "
                                 "be used with model.m1_checkpoint (M1+M2)")
        if self.m1 is not None and (self.m1.model_type != "vae" or self.m1.architecture != "mlp"):
            raise ValueError("M1 (model.m1_checkpoint) must be an MLP VAE (model_type vae, "
                             "architecture mlp)")
        if self.m1_active_units is not None and (
                not self.m1_active_units or any(u < 0 for u in self.m1_active_units)):
            raise ValueError("model.m1_active_units must list unit indices (leave it unset: "
                             "training fills it in)")


class M2(nn.Module):
    """M2 (or its classifier alone) over pixels or over a frozen M1's latent space.

    Args:
        cfg: the model config (``cfg.m1`` set for M1+M2).
        num_classes: K, the classes of the label factor.
    """

    active: Tensor | None  # a buffer, declared for the type checker (Module types it loosely)

    def __init__(self, cfg: M2Config, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.latent_dim = cfg.latent_dim
        self.generative = cfg.model_type == "m2"
        self.m1: ImageVAE | None = None
        dim = cfg.image_channels * cfg.image_size * cfg.image_size
        if cfg.m1 is not None:
            self.m1 = ImageVAE(cfg.m1)
            self.m1.requires_grad_(False)  # trained already: never updated here
            dim = cfg.m1.latent_dim
        active = None  # (D,) M1's units read, with ``active_means``
        if self.m1 is not None and cfg.m1_inputs == "active_means":
            if cfg.m1_active_units is None:
                raise ValueError("model.m1_inputs 'active_means' needs model.m1_active_units")
            active = torch.tensor(cfg.m1_active_units)
            dim = len(active)
        self.register_buffer("active", active, persistent=False)
        self.input_dim = dim
        self.image_shape = (cfg.image_channels, cfg.image_size, cfg.image_size)
        act = cfg.activation
        self.classifier = (  # (B, D) -> (B, K) logits
            _conv_classifier(cfg, num_classes) if cfg.classifier_architecture == "conv"
            else nn.Sequential(_mlp([dim, *cfg.classifier_dims], act), _activation(act),
                               nn.Linear(cfg.classifier_dims[-1], num_classes))
        )
        self.encoder: nn.Sequential | None = None
        self.decoder: nn.Sequential | None = None
        if self.generative:
            self.encoder = nn.Sequential(  # (B, D + K) -> (B, 2Z)
                _mlp([dim + num_classes, *cfg.hidden_dims], act), _activation(act),
                nn.Linear(cfg.hidden_dims[-1], 2 * cfg.latent_dim),
            )
            # Pixels: Bernoulli logits (D); M1 features: a Gaussian mean and log-variance (2D).
            out = dim if self.m1 is None else 2 * dim
            self.decoder = nn.Sequential(  # (B, Z + K) -> (B, out)
                _mlp([cfg.latent_dim + num_classes, *reversed(cfg.hidden_dims)], act),
                _activation(act), nn.Linear(cfg.hidden_dims[0], out),
            )

    def train(self, mode: bool = True) -> M2:
        super().train(mode)
        if self.m1 is not None:
            self.m1.eval()  # frozen, whatever the rest does
        return self

    # -- inputs --------------------------------------------------------------------------------

    def inputs(self, images: Tensor, generator: torch.Generator | None = None, *,
               sample: bool = False) -> Tensor:
        """Images (B, C, H, W) -> the model's inputs x (B, D): the pixels, or M1's z1, drawn
        from q(z1|x) when ``sample`` (training) else its mean; with ``active_means`` always
        the means of M1's active units."""
        if self.m1 is None:
            return images.flatten(1)
        with torch.no_grad():
            mu, logvar = self.m1.encode(images)
            if self.active is not None:
                return mu[:, self.active]
            return reparameterize(mu, logvar, generator) if sample else mu

    def one_hot(self, labels: Tensor) -> Tensor:
        """(B,) class ids -> (B, K) float one-hot."""
        return F.one_hot(labels, self.num_classes).float()

    # -- the parts -----------------------------------------------------------------------------

    def classify(self, x: Tensor) -> Tensor:
        """q(y|x): inputs (B, D) -> (B, K) logits."""
        return self.classifier(x)

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x,y): x (B, D), y (B, K) one-hot -> mu, logvar (B, Z)."""
        mu, logvar = self._generative(self.encoder)(torch.cat([x, y], dim=1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """p(x|y,z): z (B, Z), y (B, K) -> the decoder's raw output: Bernoulli logits (B, D),
        or a Gaussian's mean and log-variance (B, 2D) over M1 features."""
        return self._generative(self.decoder)(torch.cat([z, y], dim=1))

    def log_likelihood(self, out: Tensor, x: Tensor) -> Tensor:
        """log p(x|y,z) summed over the D inputs: out from :meth:`decode`, x (B, D) -> (B,)."""
        out, x = out.float(), x.float()
        if self.m1 is None:
            return (x * out - F.softplus(out)).sum(-1)
        mean, logvar = out.chunk(2, dim=-1)
        return (-0.5 * (_LOG_2PI + logvar + (x - mean).pow(2) / logvar.exp())).sum(-1)

    def bound_terms(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None
                    ) -> tuple[Tensor, Tensor]:
        """One z ~ q(z|x,y) per row: x (B, D), y (B, K) one-hot -> (reconstruction NLL (B,),
        KL(q(z|x,y) || N(0, I)) (B,)), the terms of -L(x, y)."""
        mu, logvar = self.encode(x, y)
        z = reparameterize(mu, logvar, generator)
        rec = -self.log_likelihood(self.decode(z, y), x)
        return rec, kl_standard_normal(mu.float(), logvar.float()).sum(-1)

    def bound_terms_every_class(self, x: Tensor, generator: torch.Generator | None = None
                                ) -> tuple[Tensor, Tensor]:
        """:meth:`bound_terms` for every class of every row: x (B, D) -> two (B, K)."""
        b, k = len(x), self.num_classes
        labels = torch.arange(k, device=x.device).repeat_interleave(b)  # (K*B,) class-major
        rec, kl = self.bound_terms(x.repeat(k, 1), self.one_hot(labels), generator)
        return rec.view(k, b).t(), kl.view(k, b).t()

    # -- pictures ------------------------------------------------------------------------------

    def decode_images(self, z: Tensor, y: Tensor) -> Tensor:
        """Mean images (B, C, H, W) in [0, 1] of p(x|y,z); through M1's decoder (at the
        Gaussian's mean z1) for M1+M2."""
        out = self.decode(z, y)
        if self.m1 is not None:
            z1 = out.chunk(2, dim=-1)[0]  # (B, D)
            if self.active is not None:  # M1's inactive units at their prior mean, 0
                z1 = z1.new_zeros(len(z1), self.m1.latent_dim).index_copy(1, self.active, z1)
            return self.m1.likelihood.mean(self.m1.decode(z1))
        return torch.sigmoid(out).view(-1, *self.image_shape)

    @staticmethod
    def _generative(part: nn.Sequential | None) -> nn.Sequential:
        """The encoder or decoder, which the classifier alone lacks."""
        if part is None:
            raise ValueError("this model is the classifier alone (model.model_type: classifier); "
                             "it has no encoder or decoder")
        return part


def _conv_classifier(cfg: M2Config, num_classes: int) -> nn.Sequential:
    """Flat pixels (B, C*H*W) -> (B, K) logits: the image's shape back, then per channel count
    a 3x3 convolution, ReLU and 2x2 max pooling (the side halves, rounding down), then the
    ``classifier_dims`` layers."""
    layers: list[nn.Module] = [nn.Unflatten(1, (cfg.image_channels, cfg.image_size, cfg.image_size))]
    channels, side = cfg.image_channels, cfg.image_size
    for c in cfg.classifier_channels:
        layers += [nn.Conv2d(channels, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels, side = c, side // 2
    act = cfg.activation
    layers += [nn.Flatten(), _mlp([channels * side * side, *cfg.classifier_dims], act),
               _activation(act), nn.Linear(cfg.classifier_dims[-1], num_classes)]
    return nn.Sequential(*layers)


def build_m2(cfg: M2Config, num_classes: int) -> M2:
    """The model ``cfg`` describes, freshly initialised (M1's weights come from its checkpoint)."""
    return M2(cfg, num_classes)
