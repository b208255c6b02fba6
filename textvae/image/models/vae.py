"""Image autoencoders: the VAE (MLP or convolutional), the VQ-VAE and the plain autoencoder.

- MLP VAE: Kingma & Welling 2014 (784-400-20) and Burda et al. 2016 (784-200-200-50, tanh).
- Convolutional VAE: strided convolutions down; the decoder upsamples by nearest-neighbour resize
  followed by a 3x3 convolution (Odena et al. 2016, no checkerboard artefacts), or by transposed
  convolution (``upsample: transpose``).
- beta-VAE (Higgins et al. 2017): ``beta`` weights the KL term of every VAE.
- VQ-VAE (van den Oord et al. 2017): the convolutional encoder and decoder around a
  :class:`~textvae.image.models.vq.VectorQuantizer` (its codebook, straight-through gradients,
  commitment cost, EMA updates and dead-code restarts are textvae.image.models.vq's). Its two-level
  successor, VQ-VAE-2, is :mod:`textvae.image.models.vqvae2`, which builds on this module's parts; the
  registry of every image model (``build_image_model``) is :mod:`textvae.image.models.registry`.
- Autoencoder: the deterministic case, z = encoder(x), trained on reconstruction alone.

The Gaussian maths (reparameterization, KL, log densities) is textvae.core.gaussian, shared
with the sentence VAE. Models hold no device logic.

Shapes: B = batch, C = channels, H = W = image side, Z = latent size, D = code vector size,
S = side of the latent grid, K = codebook size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.core.gaussian import reparameterize
from textvae.image.models.vq import VectorQuantizer

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class ImageModelConfig:
    """Every image model's hyperparameters, in one place.

    ``model_type``: ``vae`` (Gaussian posterior, KL to N(0, I) weighted by ``beta``), ``ae``
    (deterministic), ``vqvae`` or ``vqvae2`` (both need ``architecture: conv``). ``architecture``:
    ``mlp`` (``hidden_dims`` fully connected layers) or ``conv`` (``channels``, one stride-2
    convolution each, so ``image_size`` must be divisible by 2 ** len(channels)).
    VQ-VAE-2 (:mod:`textvae.image.models.vqvae2`) adds one more stride-2 convolution for its top level,
    so its side (``pad_to``, else ``image_size``) must be divisible by 2 ** (len(channels) + 1);
    ``pad_to`` zero-pads its input to that side and crops the output back (MNIST: 28 -> 32);
    ``codebook_size`` is its bottom level's, ``top_codebook_size`` its top level's (null: the
    same); ``residual_blocks`` per level.
    ``decoder``: ``bernoulli`` (logits, for binary pixels) or ``gaussian`` (a sigmoid mean and
    one learned log-variance per channel, for grey levels).
    """

    model_type: Literal["vae", "ae", "vqvae", "vqvae2"] = "vae"
    architecture: Literal["mlp", "conv"] = "mlp"
    image_channels: int = 1
    image_size: int = 28
    hidden_dims: list[int] = field(default_factory=lambda: [400])
    activation: Literal["relu", "tanh", "softplus"] = "relu"
    latent_dim: int = 20
    decoder: Literal["bernoulli", "gaussian"] = "bernoulli"
    beta: float = 1.0
    # Convolutional models.
    channels: list[int] = field(default_factory=lambda: [32, 64])
    upsample: Literal["resize", "transpose"] = "resize"
    # VQ-VAE.
    codebook_size: int = 128
    code_dim: int = 16
    commitment_cost: float = 0.25
    ema: bool = False
    ema_decay: float = 0.99
    # Codes whose moving-average use (assignments per training step, decay ema_decay) falls
    # below this are restarted at random encoder outputs of the batch (0 disables restarts).
    dead_code_threshold: float = 1.0
    # VQ-VAE-2 only (the docstring above).
    top_codebook_size: int | None = None
    pad_to: int | None = None
    residual_blocks: int = 0

    def __post_init__(self) -> None:
        for name in ("image_channels", "image_size", "latent_dim", "codebook_size", "code_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if any(h <= 0 for h in self.hidden_dims) or any(c <= 0 for c in self.channels):
            raise ValueError("model.hidden_dims and model.channels must be positive integers")
        if self.beta < 0:
            raise ValueError(f"model.beta must be >= 0, got {self.beta}")
        if self.commitment_cost < 0:
            raise ValueError(f"model.commitment_cost must be >= 0, got {self.commitment_cost}")
        if self.dead_code_threshold < 0:
            raise ValueError(
                f"model.dead_code_threshold must be >= 0, got {self.dead_code_threshold}"
            )
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"model.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.model_type in ("vqvae", "vqvae2") and self.architecture != "conv":
            raise ValueError(f"model.model_type {self.model_type!r} needs model.architecture 'conv'")
        if self.model_type != "vqvae2" and (
                self.pad_to is not None or self.top_codebook_size is not None
                or self.residual_blocks):
            raise ValueError("model.pad_to, model.top_codebook_size and model.residual_blocks "
                             "are VQ-VAE-2 settings (model.model_type: vqvae2)")
        if self.model_type == "vqvae2":
            self._check_vqvae2()
        elif self.architecture == "conv":
            if not self.channels:
                raise ValueError("model.channels must list at least one layer for 'conv'")
            factor = 2 ** len(self.channels)
            if self.image_size % factor:
                raise ValueError(
                    f"model.image_size {self.image_size} is not divisible by {factor} "
                    f"(2 ** len(model.channels)); remove a layer from model.channels"
                )

    def _check_vqvae2(self) -> None:
        if not self.channels:
            raise ValueError("model.channels must list at least one layer for 'vqvae2'")
        top = self.top_codebook_size
        if self.residual_blocks < 0 or (top is not None and top <= 0):
            raise ValueError("model.top_codebook_size must be positive and model.residual_blocks "
                             f"non-negative, got {top}, {self.residual_blocks}")
        side = self.image_size if self.pad_to is None else self.pad_to
        factor = 2 ** (len(self.channels) + 1)
        if side < self.image_size or side % factor:
            raise ValueError(
                f"VQ-VAE-2's side ({'model.image_size' if self.pad_to is None else 'model.pad_to'} "
                f"{side}) must be divisible by {factor} (2 ** (len(model.channels) + 1)) and at "
                f"least model.image_size {self.image_size}; set model.pad_to to a multiple of "
                f"{factor}, e.g. {-(-self.image_size // factor) * factor}"
            )


class ImageOutput(NamedTuple):
    """What every image model's ``forward`` returns.

    ``recon``: (B, C, H, W) decoder parameters: logits (Bernoulli) or means (Gaussian).
    ``mu``, ``logvar``: (B, Z) posterior parameters; None for the AE and the VQ-VAE.
    ``z``: the latent that was decoded: (B, Z), or (B, D, S, S) quantized codes.
    ``vq_loss``: (B,) codebook + commitment loss of the VQ-VAE (both levels' for VQ-VAE-2), else
    None.
    ``codes``: (B, S, S) codebook indices of the VQ-VAE (VQ-VAE-2: its bottom level's), else None.
    ``top_codes``: (B, S_top, S_top) VQ-VAE-2's top-level indices, else None.
    """

    recon: Tensor
    mu: Tensor | None
    logvar: Tensor | None
    z: Tensor
    vq_loss: Tensor | None = None
    codes: Tensor | None = None
    top_codes: Tensor | None = None


_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "softplus": nn.Softplus}


def _activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers with the activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


class _Likelihood(nn.Module):
    """The decoder's output distribution p(x|z), shared by every model."""

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = kind
        # Gaussian decoder: one learned log-variance per channel, (C,); a Bernoulli has none.
        self.logvar = nn.Parameter(torch.zeros(channels)) if kind == "gaussian" else None

    def params(self, raw: Tensor) -> Tensor:
        """Raw decoder output (B, C, H, W) -> logits (Bernoulli) or means in (0, 1) (Gaussian)."""
        return raw if self.kind == "bernoulli" else torch.sigmoid(raw)

    def log_prob(self, recon: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) summed over pixels: recon, x (..., C, H, W) -> (...), in float32.

        Float32 even when ``recon`` comes from an autocast forward (bf16): in bf16 the constant
        log 2 pi alone rounds from 1.8379 to 1.8359, which biased a 784-pixel Gaussian
        decoder's NLL by 0.76 nats per image, and a bf16 softplus errs by ~0.4% per pixel.
        """
        recon, x = recon.float(), x.float()  # no copies when they are float32 already
        if self.logvar is None:  # Bernoulli (only a Gaussian decoder learns log-variances)
            # log sigmoid(l) for x = 1, log(1 - sigmoid(l)) for x = 0; broadcasts x over samples.
            return (x * recon - F.softplus(recon)).flatten(-3).sum(-1)
        logvar = self.logvar.float().view(-1, 1, 1)  # (C, 1, 1)
        lp = -0.5 * (_LOG_2PI + logvar + (x - recon).pow(2) / logvar.exp())
        return lp.flatten(-3).sum(-1)

    def mean(self, recon: Tensor) -> Tensor:
        """The expected image in [0, 1], (B, C, H, W)."""
        return torch.sigmoid(recon) if self.kind == "bernoulli" else recon


# ----------------------------------------------------------------------------------------------
# Encoders and decoders


class _ConvEncoder(nn.Module):
    """Stride-2 4x4 convolutions: (B, C, H, W) -> (B, channels[-1], H / 2^L, W / 2^L)."""

    def __init__(self, in_channels: int, channels: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c in channels:
            layers += [nn.Conv2d(in_channels, c, 4, stride=2, padding=1), nn.ReLU()]
            in_channels = c
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _ConvDecoder(nn.Module):
    """The mirror of :class:`_ConvEncoder`: each layer doubles the side, by nearest-neighbour
    resize then a 3x3 convolution, or by a 4x4 stride-2 transposed convolution.
    (B, channels[-1], S, S) -> (B, out_channels, S * 2^L, S * 2^L), no final activation."""

    def __init__(self, channels: list[int], out_channels: int, upsample: str) -> None:
        super().__init__()
        sizes = list(reversed(channels)) + [out_channels]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if upsample == "resize":
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(a, b, 3, padding=1)]
            else:
                layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class _Bottleneck(nn.Module):
    """Image -> flat features and flat latent -> image, for the MLP and conv architectures."""

    def __init__(self, cfg: ImageModelConfig, out_features: int) -> None:
        super().__init__()
        c, s = cfg.image_channels, cfg.image_size
        self.image_shape = (c, s, s)
        if cfg.architecture == "mlp":
            pixels = c * s * s
            self.encoder = nn.Sequential(
                nn.Flatten(), _mlp([pixels, *cfg.hidden_dims], cfg.activation),
                _activation(cfg.activation),
            )
            self.to_latent = nn.Linear(cfg.hidden_dims[-1], out_features)
            self.from_latent = nn.Sequential(
                _mlp([cfg.latent_dim, *reversed(cfg.hidden_dims)], cfg.activation),
                _activation(cfg.activation),
                nn.Linear(cfg.hidden_dims[0], pixels),
            )
            self.decoder = None
        else:
            side = s // 2 ** len(cfg.channels)
            self.grid = (cfg.channels[-1], side, side)
            flat = cfg.channels[-1] * side * side
            self.encoder = nn.Sequential(_ConvEncoder(c, cfg.channels), nn.Flatten())
            self.to_latent = nn.Linear(flat, out_features)
            self.from_latent = nn.Sequential(nn.Linear(cfg.latent_dim, flat), nn.ReLU())
            self.decoder = _ConvDecoder(cfg.channels, c, cfg.upsample)

    def encode(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, out_features)."""
        return self.to_latent(self.encoder(x))

    def decode(self, z: Tensor) -> Tensor:
        """(..., Z) -> raw decoder output (..., C, H, W)."""
        lead = z.shape[:-1]
        h = self.from_latent(z.reshape(-1, z.shape[-1]))
        if self.decoder is not None:
            h = self.decoder(h.view(-1, *self.grid))
        return h.reshape(*lead, *self.image_shape)


# ----------------------------------------------------------------------------------------------
# Models


class ImageVAE(nn.Module):
    """A VAE with q(z|x) = N(mu, diag sigma^2), p(z) = N(0, I), MLP or convolutional.

    ``beta`` is the KL weight of the training objective (1 for the VAE, > 1 for beta-VAE); it is
    a property of the model, read by the trainer.
    """

    def __init__(self, cfg: ImageModelConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.beta = cfg.beta
        self.net = _Bottleneck(cfg, 2 * cfg.latent_dim)
        self.likelihood = _Likelihood(cfg.decoder, cfg.image_channels)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) -> mu, logvar, each (B, Z), in float32 even under autocast.

        As on the text side (:meth:`textvae.text.models.sentence_vae.SentenceVAE.encode`): the
        posterior head is tiny, and a bf16 mu (8-bit mantissa) would blur z and the KL.
        """
        h = self.net.encoder(x)  # (B, F), the autocast dtype under autocast
        with torch.autocast(h.device.type, enabled=False):
            mu, logvar = self.net.to_latent(h.float()).chunk(2, dim=-1)
        return mu, logvar

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator=None) -> Tensor:
        return reparameterize(mu, logvar, generator)

    def decode(self, z: Tensor) -> Tensor:
        """(..., Z) -> decoder parameters (..., C, H, W): logits or Gaussian means."""
        return self.likelihood.params(self.net.decode(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> ImageOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return ImageOutput(self.decode(z), mu, logvar, z)


class ImageAE(nn.Module):
    """The deterministic autoencoder: z = encoder(x), no prior and no KL."""

    def __init__(self, cfg: ImageModelConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.beta = 0.0
        self.net = _Bottleneck(cfg, cfg.latent_dim)
        self.likelihood = _Likelihood(cfg.decoder, cfg.image_channels)

    def encode(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, Z)."""
        return self.net.encode(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.likelihood.params(self.net.decode(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> ImageOutput:
        z = self.encode(x)
        return ImageOutput(self.decode(z), None, None, z)


class VQVAE(nn.Module):
    """VQ-VAE: conv encoder to a (D, S, S) grid, quantized per position, conv decoder back.

    The code-prior interface it shares with :class:`textvae.image.models.vqvae2.VQVAE2` (whose module
    docstring states it): ``code_levels``, ``encode_codes`` and ``decode_code_maps``, with one
    level here.
    """

    def __init__(self, cfg: ImageModelConfig) -> None:
        super().__init__()
        self.beta = 0.0
        self.codebook_size = cfg.codebook_size
        side = cfg.image_size // 2 ** len(cfg.channels)
        self.grid_side = side
        self.encoder = nn.Sequential(
            _ConvEncoder(cfg.image_channels, cfg.channels), nn.Conv2d(cfg.channels[-1], cfg.code_dim, 1)
        )
        self.quantizer = VectorQuantizer(
            cfg.codebook_size, cfg.code_dim, cfg.commitment_cost, cfg.ema, cfg.ema_decay,
            cfg.dead_code_threshold,
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(cfg.code_dim, cfg.channels[-1], 3, padding=1), nn.ReLU(),
            _ConvDecoder(cfg.channels, cfg.image_channels, cfg.upsample),
        )
        self.likelihood = _Likelihood(cfg.decoder, cfg.image_channels)

    def encode(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> continuous encoder output z_e (B, D, S, S)."""
        return self.encoder(x)

    def decode(self, q: Tensor) -> Tensor:
        """Quantized codes (B, D, S, S) -> decoder parameters (B, C, H, W)."""
        return self.likelihood.params(self.decoder(q))

    def decode_codes(self, codes: Tensor) -> Tensor:
        """Codebook indices (B, S, S) -> decoder parameters (B, C, H, W)."""
        return self.decode(self.quantizer.lookup(codes))

    @property
    def code_levels(self) -> list[tuple[int, int]]:
        """[(side S, codebook size K)] of the one code map."""
        return [(self.grid_side, self.codebook_size)]

    @torch.no_grad()
    def encode_codes(self, x: Tensor) -> list[Tensor]:
        """Images (B, C, H, W) -> [codes (B, S, S)]: nearest codes, with no codebook update."""
        return [self.quantizer.nearest(self.encode(x))]

    def decode_code_maps(self, codes: list[Tensor]) -> Tensor:
        """[codes (B, S, S)] -> decoder parameters (B, C, H, W)."""
        (single,) = codes  # one level
        return self.decode_codes(single)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> ImageOutput:
        q, codes, vq_loss = self.quantizer(self.encode(x))
        return ImageOutput(self.decode(q), None, None, q, vq_loss, codes)
