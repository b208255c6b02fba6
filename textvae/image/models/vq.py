"""Vector quantization for the VQ-VAE (van den Oord et al. 2017): a codebook of K vectors,
nearest-neighbour assignment, straight-through gradients, the commitment cost, optional
exponential-moving-average codebook updates, and restarts of dead codes (Dhariwal et al. 2020).

The VQ-VAE model that wraps it (encoder, quantizer, decoder) is
:class:`textvae.image.models.vae.VQVAE`, beside the other image models that share its encoder,
decoder and likelihood. This module depends on torch only.

Shapes: B = batch, D = code vector size, H' x W' = the latent grid, N = B * H' * W' vectors,
K = codebook size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantization against a codebook of K vectors of size D.

    Loss per image (summed over the latent grid, to share the reconstruction's per-image units):
    ||sg[z_e] - e||^2 (codebook; left out with EMA updates) + commitment_cost ||z_e - sg[e]||^2.
    The decoder sees z_e + sg[e - z_e]: the value of e, the gradient of z_e (straight-through).
    With ``ema``, the codebook follows exponential moving averages of the encoder outputs
    assigned to each code (van den Oord et al. 2017, appendix), updated in training mode only.
    Codes left unused (moving-average assignments per step below ``dead_threshold``, and none
    in the current batch) are restarted at random encoder outputs of the current batch, as in
    Dhariwal et al. 2020
    (Jukebox); without this most of a randomly initialised codebook is never chosen. The first
    training step thereby initialises the codebook from data.
    """

    # Buffers (and, without ``ema``, the codebook parameter), declared for the type checker:
    # nn.Module's attribute lookup types them as ``Tensor | Module``.
    codebook: Tensor
    usage: Tensor
    ema_count: Tensor
    ema_sum: Tensor

    def __init__(self, codebook_size: int, code_dim: int, commitment_cost: float, ema: bool,
                 decay: float, dead_threshold: float = 0.0) -> None:
        super().__init__()
        self.commitment_cost = commitment_cost
        self.ema = ema
        self.decay = decay
        self.dead_threshold = dead_threshold
        self.register_buffer("usage", torch.ones(codebook_size))  # (K,) assignments per step
        bound = 1 / codebook_size
        codebook = torch.empty(codebook_size, code_dim).uniform_(-bound, bound)  # (K, D)
        if ema:
            # Updated by moving averages, not by the optimiser.
            self.register_buffer("codebook", codebook)
            # Each code starts as if assigned once, at its initial value: an unused code then
            # keeps sum / count = its value as both decay (starting the count at zero would
            # divide its decaying sum by ~0 and fling it away from the data for good).
            self.register_buffer("ema_count", torch.ones(codebook_size))
            self.register_buffer("ema_sum", codebook.clone())
        else:
            self.codebook = nn.Parameter(codebook)

    def forward(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z_e (B, D, H', W') -> quantized (B, D, H', W'), codes (B, H', W'), loss (B,).

        Quantization runs in float32 even under autocast (train.amp: auto picks bf16 on CPUs
        with AMX): a bf16 distance cross-term assigns other codes than float32 for about 1% of
        inputs, and bf16 inputs do not fit the float32 moving-average buffers.
        """
        with torch.autocast(z_e.device.type, enabled=False):
            return self._quantize(z_e.float())

    @torch.no_grad()
    def nearest(self, z_e: Tensor) -> Tensor:
        """z_e (B, D, H', W') -> codes (B, H', W') of the nearest codebook vectors, in float32,
        with no update of the codebook (in training mode too): the codes ``forward`` assigns."""
        b, d, h, w = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            return self._nearest(z_e.float().permute(0, 2, 3, 1).reshape(-1, d)).view(b, h, w)

    def _nearest(self, flat: Tensor) -> Tensor:
        """flat (N, D) -> (N,) index of the nearest code (squared distances (N, K))."""
        dist = (
            flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
            + self.codebook.pow(2).sum(1)
        )
        return dist.argmin(1)

    def _quantize(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)  # (B*H'*W', D)
        codes = self._nearest(flat)  # (B*H'*W',)
        if self.ema and self.training:
            self._ema_update(flat.detach(), codes)
        if self.dead_threshold > 0 and self.training:
            self._restart_dead_codes(flat.detach(), codes)
        e = self.codebook[codes].view(b, h, w, d).permute(0, 3, 1, 2)  # (B, D, H', W')
        commitment = (z_e - e.detach()).pow(2).flatten(1).sum(1)  # (B,)
        loss = self.commitment_cost * commitment
        if not self.ema:
            loss = loss + (z_e.detach() - e).pow(2).flatten(1).sum(1)
        quantized = z_e + (e - z_e).detach()
        return quantized, codes.view(b, h, w), loss

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, codes: Tensor) -> None:
        onehot = _one_hot(codes, self.codebook.shape[0], flat.dtype)  # (N, K)
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        # Laplace smoothing keeps unused codes from dividing by zero.
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + 1e-5 * len(self.ema_count)) * n
        self.codebook.copy_(self.ema_sum / count.unsqueeze(1))

    @torch.no_grad()
    def _restart_dead_codes(self, flat: Tensor, codes: Tensor) -> None:
        # flat: (N, D) this batch's encoder outputs; codes: (N,) the code each was assigned.
        counts = _one_hot(codes, len(self.usage), self.usage.dtype).sum(0)  # (K,)
        self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        # Only codes this batch left unused may restart: a code just chosen is quantizing some
        # of these inputs (its vector is the decoder's input in this very step), however low its
        # moving-average usage still is.
        dead = (self.usage < self.dead_threshold) & (counts == 0)  # (K,)
        # The one step that waits for the device on a GPU: how many codes restart, and so how
        # many random picks are drawn, depends on the data (tests/image/training/test_sync.py).
        dead = dead.nonzero().squeeze(1)  # (n_dead,) code indices
        if len(dead) == 0:
            return
        # Draws from torch's global generator, which checkpoints save and restore.
        picks = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]  # (n_dead, D)
        self.codebook.data[dead] = picks
        self.usage[dead] = self.dead_threshold  # a fresh code gets a few steps to be chosen
        if self.ema:
            self.ema_sum[dead] = picks
            self.ema_count[dead] = 1.0

    def lookup(self, codes: Tensor) -> Tensor:
        """codes (B, S, S) -> code vectors (B, D, S, S)."""
        return self.codebook[codes].permute(0, 3, 1, 2)


def _one_hot(codes: Tensor, k: int, dtype: torch.dtype) -> Tensor:
    """codes (N,) -> (N, K) one-hot rows, by a scatter: ``F.one_hot`` reads the codes' range
    back to the host (a wait on a GPU); the codes come from an argmin, so they are in range."""
    return torch.zeros(len(codes), k, dtype=dtype, device=codes.device).scatter_(1, codes[:, None], 1.0)
