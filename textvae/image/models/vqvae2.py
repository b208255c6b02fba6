"""VQ-VAE-2 (Razavi, van den Oord and Vinyals 2019): two levels of quantized latent maps, a
coarse top level and a finer bottom level conditioned on it, and a decoder that reads both.

    x (B, C, H, W) --zero-pad to model.pad_to--> (B, C, P, P)
    bottom encoder: the model.channels stride-2 convolutions, residual blocks -> h_b (B, F, Sb, Sb)
    top encoder:    one more stride-2 convolution, residual blocks, 1x1       -> z_t (B, D, St, St)
    top quantizer (K_top codes)                                               -> q_t (B, D, St, St)
    top decoder:    q_t up to the bottom grid                                 -> u_t (B, F, Sb, Sb)
    bottom quantizer on a 1x1 convolution of [h_b, u_t] (K codes)             -> q_b (B, D, Sb, Sb)
    decoder: [q_b, q_t upsampled], residual blocks, the model.channels upsampling convolutions
             -> (B, C, P, P) --crop--> decoder parameters (B, C, H, W)

Sb = P / 2^L and St = P / 2^(L+1) for L = len(model.channels): MNIST padded from 28 to 32 with
two layers has an 8x8 bottom and a 4x4 top map; the 64x64 sprites 16x16 and 8x8. The padding is
zeros (the images' background), placed centrally; the output is cropped back, so the loss, the
metrics and every user see images of the data's size. Each level is a
:class:`~textvae.image.models.vq.VectorQuantizer` (EMA updates and dead-code restarts as configured); the
training loss is the reconstruction NLL plus both levels' codebook and commitment terms.

The code-prior interface (the PixelCNN priors use it; :class:`textvae.image.models.vae.VQVAE` has it
too, with one level):

- ``model.code_levels``: ``[(S_l, K_l)]``, the side of each level's square code map and its
  codebook size, coarsest first (here ``[(St, K_top), (Sb, K)]``);
- ``model.encode_codes(x)``: images (B, C, H, W) in [0, 1] -> ``[codes (B, S_l, S_l)]`` long,
  coarsest first; the nearest codes, with no gradient and no codebook update;
- ``model.decode_code_maps(codes)``: that list -> decoder parameters (B, C, H, W) at the data's
  size; the image is ``model.likelihood.mean(...)``. In eval mode,
  ``decode_code_maps(encode_codes(x))`` equals ``model(x).recon``.

Shapes: B = batch, C = channels, H = W = image side, P = padded side, F = channels[-1],
D = code vector size, Sb / St = bottom / top side, K = codebook size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.image.models.vae import (
    ImageModelConfig,
    ImageOutput,
    _ConvDecoder,
    _ConvEncoder,
    _Likelihood,
)
from textvae.image.models.vq import VectorQuantizer


class _Residual(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), channels kept: (B, F, S, S) -> (B, F, S, S)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


def _residual_stack(channels: int, blocks: int) -> nn.Sequential:
    """``blocks`` residual blocks then a ReLU (Razavi et al.'s stacks end in one)."""
    return nn.Sequential(*[_Residual(channels) for _ in range(blocks)], nn.ReLU())


class VQVAE2(nn.Module):
    """The two-level VQ-VAE of the module docstring, built from an :class:`ImageModelConfig`
    with ``model_type: vqvae2``."""

    def __init__(self, cfg: ImageModelConfig) -> None:
        super().__init__()
        self.beta = 0.0  # no KL term (the trainer reads it)
        f, d, blocks = cfg.channels[-1], cfg.code_dim, cfg.residual_blocks
        self.image_size = cfg.image_size
        padded = cfg.image_size if cfg.pad_to is None else cfg.pad_to
        # Zeros before the image on each axis (the rest go after): the image sits centrally.
        self.pad_before = (padded - cfg.image_size) // 2
        self.pad_after = padded - cfg.image_size - self.pad_before
        self.bottom_side = padded // 2 ** len(cfg.channels)
        self.top_side = self.bottom_side // 2
        self.codebook_size = cfg.codebook_size  # the bottom level's
        self.top_codebook_size = cfg.top_codebook_size or cfg.codebook_size

        def quantizer(k: int) -> VectorQuantizer:
            return VectorQuantizer(k, d, cfg.commitment_cost, cfg.ema, cfg.ema_decay,
                                   cfg.dead_code_threshold)

        self.bottom_encoder = nn.Sequential(  # (B, C, P, P) -> (B, F, Sb, Sb)
            _ConvEncoder(cfg.image_channels, cfg.channels), _residual_stack(f, blocks))
        self.top_encoder = nn.Sequential(  # (B, F, Sb, Sb) -> (B, D, St, St)
            nn.Conv2d(f, f, 4, stride=2, padding=1), nn.ReLU(), _residual_stack(f, blocks),
            nn.Conv2d(f, d, 1))
        self.quantizer_top = quantizer(self.top_codebook_size)
        self.top_decoder = nn.Sequential(  # (B, D, St, St) -> (B, F, Sb, Sb)
            nn.Conv2d(d, f, 3, padding=1), _residual_stack(f, blocks),
            _ConvDecoder([f], f, cfg.upsample), nn.ReLU())
        self.bottom_input = nn.Conv2d(2 * f, d, 1)  # [h_b, u_t] (B, 2F, Sb, Sb) -> (B, D, Sb, Sb)
        self.quantizer_bottom = quantizer(self.codebook_size)
        self.upsample_top = _ConvDecoder([d], d, cfg.upsample)  # (B, D, St, St) -> (B, D, Sb, Sb)
        self.decoder = nn.Sequential(  # (B, 2D, Sb, Sb) -> (B, C, P, P)
            nn.Conv2d(2 * d, f, 3, padding=1), _residual_stack(f, blocks),
            _ConvDecoder(cfg.channels, cfg.image_channels, cfg.upsample))
        self.likelihood = _Likelihood(cfg.decoder, cfg.image_channels)

    @property
    def code_levels(self) -> list[tuple[int, int]]:
        """[(St, K_top), (Sb, K)]: each level's code-map side and codebook size, top first."""
        return [(self.top_side, self.top_codebook_size), (self.bottom_side, self.codebook_size)]

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images (B, C, H, W) -> h_b (B, F, Sb, Sb) and the top level's z_t (B, D, St, St)."""
        edges = (self.pad_before, self.pad_after) * 2  # left, right, top, bottom
        h_b = self.bottom_encoder(F.pad(x, edges))
        return h_b, self.top_encoder(h_b)

    def _bottom_z(self, h_b: Tensor, q_t: Tensor) -> Tensor:
        """The bottom quantizer's input (B, D, Sb, Sb): the bottom features conditioned on the
        decoded top codes q_t (B, D, St, St)."""
        return self.bottom_input(torch.cat([h_b, self.top_decoder(q_t)], dim=1))

    def _decode(self, q_t: Tensor, q_b: Tensor) -> Tensor:
        """Top and bottom code vectors -> decoder parameters (B, C, H, W), cropped."""
        raw = self.decoder(torch.cat([q_b, self.upsample_top(q_t)], dim=1))  # (B, C, P, P)
        end = self.pad_before + self.image_size
        return self.likelihood.params(raw[..., self.pad_before:end, self.pad_before:end])

    @torch.no_grad()
    def encode_codes(self, x: Tensor) -> list[Tensor]:
        """Images (B, C, H, W) -> [top codes (B, St, St), bottom codes (B, Sb, Sb)], the codes
        ``forward`` would pick, with no codebook update."""
        h_b, z_t = self._encode(x)
        codes_t = self.quantizer_top.nearest(z_t)
        codes_b = self.quantizer_bottom.nearest(
            self._bottom_z(h_b, self.quantizer_top.lookup(codes_t)))
        return [codes_t, codes_b]

    def decode_code_maps(self, codes: list[Tensor]) -> Tensor:
        """[top codes (B, St, St), bottom codes (B, Sb, Sb)] -> decoder parameters
        (B, C, H, W)."""
        shapes = [tuple(c.shape[1:]) for c in codes]
        if shapes != [(s, s) for s, _ in self.code_levels]:
            raise ValueError(f"code maps of shapes {shapes} (after the batch) do not fit the "
                             f"levels {self.code_levels} (side, codebook size), top first")
        codes_t, codes_b = codes
        return self._decode(self.quantizer_top.lookup(codes_t),
                            self.quantizer_bottom.lookup(codes_b))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> ImageOutput:
        h_b, z_t = self._encode(x)
        q_t, codes_t, loss_t = self.quantizer_top(z_t)
        q_b, codes_b, loss_b = self.quantizer_bottom(self._bottom_z(h_b, q_t))
        return ImageOutput(self._decode(q_t, q_b), None, None, q_b, loss_t + loss_b, codes_b,
                           codes_t)
