"""The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders") over a map of discrete codes: the autoregressive prior of the VQ-VAEs' code levels.

    codes (B, H, W) -> embedding (B, E, H, W) -> gated layers (vertical + horizontal stacks)
                    -> logits (B, K, H, W): p(code at (i, j) | codes before it in raster order)

Each layer has two stacks, which together see every earlier position and none after it (no
blind spot, unlike the masked 3x3 convolution of the original PixelCNN):

- the **vertical** stack: a (k//2 + 1) x k convolution over the rows above and the current row;
  it reaches the horizontal stack only shifted down one row, so position (i, j) gets from it
  rows < i alone;
- the **horizontal** stack: a 1 x (k//2 + 1) convolution over the current row up to the current
  column; in the first layer it is shifted right one column, so it excludes the position itself
  (the paper's mask A), later layers include it (mask B: the position's own features hold only
  earlier codes). Layers after the first add their output to their input (residual).

Activations are gated, tanh(a) * sigmoid(b). Conditioning adds to both halves of the gates of
both stacks: a class embedding (one vector per class, every position) and, optionally, a spatial
map of the level's size through a 1x1 convolution (for VQ-VAE-2's bottom prior: the top codes,
embedded and upsampled, known at every position, so no causality applies to them).

Sampling is ancestral: one position at a time in raster order, each a draw from the softmax of
logits / temperature (temperature 0: the argmax), from an explicit generator. Position (i, j)
depends only on rows <= i, so each step runs the network on those rows alone, which is exact.

Shapes: B = batch, H x W = code map, K = codebook size, E = code embedding size, C = channels,
M = conditioning-map channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _gate(pre: Tensor) -> Tensor:
    """(B, 2C, H, W) -> tanh(first half) * sigmoid(second half), (B, C, H, W)."""
    a, b = pre.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def _shift_down(x: Tensor) -> Tensor:
    """Row i takes row i - 1's values (row 0 zeros): (B, C, H, W) -> (B, C, H, W)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def _shift_right(x: Tensor) -> Tensor:
    """Column j takes column j - 1's values (column 0 zeros)."""
    return F.pad(x, (1, 0))[..., :-1]


class GatedLayer(nn.Module):
    """One layer of both stacks.

    Args:
        in_channels: the stacks' input channels (E for the first layer, C after).
        channels: C, each stack's output channels.
        kernel_size: k (odd): the vertical stack spans k columns and k//2 + 1 rows, the
            horizontal stack k//2 + 1 columns.
        first: the first layer, whose horizontal stack excludes the position itself.
        num_classes: classes of the class conditioning (0: none).
        condition_channels: M, channels of the spatial conditioning map (0: none).
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, *, first: bool,
                 num_classes: int = 0, condition_channels: int = 0) -> None:
        super().__init__()
        # Not ``self.half``: that would shadow nn.Module.half().
        self.reach = kernel_size // 2
        self.first = first
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (self.reach + 1, kernel_size))
        self.horizontal = nn.Conv2d(in_channels, 2 * channels, (1, self.reach + 1))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        # Conditioning: 4C = both gate halves of both stacks.
        self.class_bias = nn.Embedding(num_classes, 4 * channels) if num_classes else None
        self.condition = (nn.Conv2d(condition_channels, 4 * channels, 1)
                          if condition_channels else None)

    def forward(self, v: Tensor, h: Tensor, classes: Tensor | None = None,
                condition: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """v, h (B, in, H, W); classes (B,) or None; condition (B, M, H, W) or None ->
        the two stacks' outputs, each (B, C, H, W)."""
        half = self.reach
        # Pad above and at the sides only: output row i spans rows i - half .. i.
        v_pre = self.vertical(F.pad(v, (half, half, half, 0)))  # (B, 2C, H, W)
        # Pad on the left only: output column j spans columns j - half .. j.
        h_pre = self.horizontal(F.pad(h, (half, 0, 0, 0)))  # (B, 2C, H, W)
        if self.first:
            h_pre = _shift_right(h_pre)  # mask A: columns j - 1 - half .. j - 1
        h_pre = h_pre + self.vertical_to_horizontal(_shift_down(v_pre))  # rows < i only
        bias: Tensor | None = None
        if self.class_bias is not None:
            bias = self.class_bias(classes)[:, :, None, None]  # (B, 4C, 1, 1)
        if self.condition is not None:
            spatial = self.condition(condition)  # (B, 4C, H, W)
            bias = spatial if bias is None else bias + spatial
        if bias is not None:
            v_bias, h_bias = bias.chunk(2, dim=1)
            v_pre, h_pre = v_pre + v_bias, h_pre + h_bias
        h_out = self.horizontal_out(_gate(h_pre))
        return _gate(v_pre), h_out if self.first else h + h_out


class GatedPixelCNN(nn.Module):
    """A gated PixelCNN over (B, H, W) maps of K codes, any H and W.

    Args:
        num_codes: K.
        channels: C, the stacks' channels.
        layers: gated layers (at least 1).
        kernel_size: k, odd.
        embedding_dim: E, the code embedding size.
        num_classes: classes for class conditioning (0: unconditional on the class).
        condition_channels: M, channels of a spatial conditioning map (0: none).
    """

    def __init__(self, num_codes: int, *, channels: int = 64, layers: int = 8,
                 kernel_size: int = 3, embedding_dim: int = 32, num_classes: int = 0,
                 condition_channels: int = 0) -> None:
        super().__init__()
        if layers < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"a gated PixelCNN needs layers >= 1 and an odd kernel size, got "
                             f"{layers} layers of kernel {kernel_size}")
        self.num_codes = num_codes
        self.num_classes = num_classes
        self.condition_channels = condition_channels
        self.embedding = nn.Embedding(num_codes, embedding_dim)
        self.layers = nn.ModuleList(
            GatedLayer(embedding_dim if i == 0 else channels, channels, kernel_size, first=i == 0,
                       num_classes=num_classes, condition_channels=condition_channels)
            for i in range(layers)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, num_codes, 1))

    def embed(self, codes: Tensor) -> Tensor:
        """(B, H, W) long -> (B, E, H, W)."""
        return self.embedding(codes).permute(0, 3, 1, 2)

    def logits_of_embedded(self, embedded: Tensor, classes: Tensor | None = None,
                           condition: Tensor | None = None) -> Tensor:
        """The logits from embedded codes (B, E, H, W): (B, K, H, W). Logits at (i, j) depend
        on the embedding at positions before (i, j) in raster order alone (the causality tests
        take gradients here)."""
        if (classes is None) != (self.num_classes == 0):
            raise ValueError("pass classes exactly when the PixelCNN is class-conditional")
        if (condition is None) != (self.condition_channels == 0):
            raise ValueError("pass a condition map exactly when the PixelCNN has one")
        v = h = embedded
        for layer in self.layers:
            v, h = layer(v, h, classes, condition)
        return self.head(h)

    def forward(self, codes: Tensor, classes: Tensor | None = None,
                condition: Tensor | None = None) -> Tensor:
        """codes (B, H, W) long; classes (B,) or None; condition (B, M, H, W) or None ->
        logits (B, K, H, W)."""
        return self.logits_of_embedded(self.embed(codes), classes, condition)


def code_log_likelihood(logits: Tensor, codes: Tensor) -> Tensor:
    """log p(codes) in nats, per map: logits (B, K, H, W), codes (B, H, W) -> (B,).

    In float32 whatever the logits' dtype (a bf16 log-softmax over K codes errs by ~1%)."""
    return -F.cross_entropy(logits.float(), codes, reduction="none").flatten(1).sum(1)


def bits_per_code(nats: Tensor | float, positions: int) -> Tensor | float:
    """Nats per map -> bits per code of a map with ``positions`` codes."""
    return nats / (positions * math.log(2.0))


def draw(logits: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
    """One code per row of logits (B, K): a draw from softmax(logits / temperature), or the
    argmax at temperature 0. -> (B,) long."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=1)
    probs = torch.softmax(logits.float() / temperature, dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def sample_codes(model: GatedPixelCNN, n: int, height: int, width: int, *,
                 classes: Tensor | None = None, condition: Tensor | None = None,
                 temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Ancestral sampling of n code maps in raster order: (n, H, W) long, on the model's device.

    Args:
        model: the PixelCNN (its mode is left as it is; call ``eval()`` first).
        n, height, width: how many maps and their size.
        classes: (n,) class ids for a class-conditional model, else None.
        condition: (n, M, H, W) for a spatially conditioned model, else None.
        temperature: softmax temperature (1: the model's distribution; 0: argmax).
        generator: the random stream (on the model's device); the same seed gives the same maps.
    """
    device = model.embedding.weight.device
    codes = torch.zeros(n, height, width, dtype=torch.long, device=device)
    for i in range(height):
        # Row i depends on rows <= i only: run the network on those (exact, and half the work).
        rows_condition = None if condition is None else condition[:, :, : i + 1]
        for j in range(width):
            logits = model(codes[:, : i + 1], classes, rows_condition)[:, :, i, j]  # (n, K)
            codes[:, i, j] = draw(logits, temperature, generator)
    return codes
