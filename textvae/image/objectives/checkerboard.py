"""A measured checkerboard-artefact score for decoded images (Odena, Dumoulin and Olah 2016).

A stride-2 transposed convolution computes alternate output pixels from different subsets of
its kernel (a 4x4 kernel splits into four 2x2 sub-kernels, one per output parity); unless
training makes the sub-kernels agree, neighbouring pixels differ systematically: a period-2
pattern, the checkerboard (a kernel size not divisible by the stride adds uneven overlap).
A period-2 pattern puts its energy in the 2-D discrete Fourier spectrum at the "stride
frequencies", the bins whose index is a multiple of N/2 on each axis: (N/2, N/2) (the
checkerboard proper), (N/2, 0) and (0, N/2) (stripes). Resize-then-convolve decoders upsample
by repetition and smooth with a 3x3 kernel, and put no special energy there.

:func:`stride_energy_share` is the share of an image set's spectral energy, the DC bin
excluded, that falls on those bins:

    share = sum_i sum_{(u, v) in S} |F_i(u, v)|^2 / sum_i sum_{(u, v) != (0, 0)} |F_i(u, v)|^2

with F_i the 2-D DFT of image i and S = {0, N/stride, 2N/stride, ...}^2 minus (0, 0). DC is left
out because it is only the mean brightness (by Parseval, the rest is the image's variance about
its mean), which would otherwise dilute the share by how bright the digits are.

:func:`checkerboard_score` divides a decoded set's share by the data's: digits have sharp edges
and carry some energy at N/2 themselves, so 1 means "as much as real images", above 1 is extra
stride-frequency energy, artefacts. stride 2 probes the decoder's last upsampling layer; stride 4
(every multiple of N/4) also the layer before it.

Shapes: N = images, C = channels, H x W = image size.
"""

from __future__ import annotations

import torch
from torch import Tensor


def stride_energy_share(images: Tensor, stride: int = 2) -> float:
    """The share of the spectral energy (DC excluded) of images (N, C, H, W) at the stride
    frequencies; H and W must be divisible by ``stride``."""
    h, w = images.shape[-2:]
    if h % stride or w % stride:
        raise ValueError(f"image sides {h}x{w} are not divisible by the stride {stride}")
    power = torch.fft.fft2(images.double().flatten(0, -3)).abs().pow(2).sum(0)  # (H, W), summed
    on_grid = torch.zeros(h, w, dtype=torch.bool)
    on_grid[:: h // stride, :: w // stride] = True  # rows and columns at multiples of N/stride
    on_grid[0, 0] = False
    total = power.sum() - power[0, 0]
    return (power[on_grid].sum() / total).item() if total > 0 else 0.0


def checkerboard_score(decoded: Tensor, data: Tensor, stride: int = 2) -> float:
    """:func:`stride_energy_share` of ``decoded`` over that of ``data`` (both (N, C, H, W) in
    [0, 1]): 1 is the data's own level, higher means checkerboard artefacts."""
    return stride_energy_share(decoded, stride) / stride_energy_share(data, stride)
