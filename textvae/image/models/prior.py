"""The autoregressive prior over a VQ model's code levels: one gated PixelCNN
(:mod:`textvae.image.models.pixelcnn`) per level, as in VQ-VAE-2 (Razavi et al. 2019).

    level 0 (coarsest):  p(c_0 | y)
    level l > 0:         p(c_l | y, c_{l-1})

y is the class (MNIST's digit, the sprites' shape), used when ``class_conditional``. A finer
level sees the level above it as a spatial condition: the coarser codes embedded, resized
(nearest) to the finer side and passed through a 3x3 convolution, which may look everywhere
because the coarser codes are all known before the finer level is drawn. The single-level VQ-VAE
has level 0 only. log p(c_0, ..., c_L | y) is the sum of the levels' terms.

The levels (side S_l, codebook size K_l), coarsest first, are the VQ model's ``code_levels``;
the class count comes from the run's label set. Both are recorded in every checkpoint, so the
prior rebuilds from its checkpoint alone (:func:`build_code_prior`).

Shapes: B = batch, S_l = side of level l, K_l = its codebook size, M = conditioning channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.core.errors import ConfigError
from textvae.image.models.pixelcnn import GatedPixelCNN, code_log_likelihood, sample_codes


@dataclass
class CodePriorConfig:
    """The ``model`` section of a prior run (``model_type: prior``).

    ``vq_run``: the trained VQ-VAE or VQ-VAE-2 run (directory or checkpoint) whose codes the
    prior models. ``class_conditional``: condition every level on the class. ``channels`` and
    ``layers``: one value for every level, or one per level (coarsest first). ``kernel_size``:
    the stacks' k (odd). ``embedding_dim``: each level's code embedding. ``condition_channels``:
    the coarser level's map as the finer level sees it.
    """

    model_type: Literal["prior"] = "prior"
    vq_run: str | None = None
    class_conditional: bool = True
    channels: list[int] = field(default_factory=lambda: [64])
    layers: list[int] = field(default_factory=lambda: [8])
    kernel_size: int = 3
    embedding_dim: int = 32
    condition_channels: int = 32

    def __post_init__(self) -> None:
        if not self.channels or not self.layers or min(self.channels + self.layers) <= 0:
            raise ValueError("model.channels and model.layers must list positive integers")
        if self.kernel_size <= 0 or self.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be odd and positive, got {self.kernel_size}")
        if self.embedding_dim <= 0 or self.condition_channels <= 0:
            raise ValueError("model.embedding_dim and model.condition_channels must be positive")


def per_level(values: list[int], levels: int, name: str) -> list[int]:
    """One value for every level, or one per level; anything else is an error."""
    if len(values) == 1:
        return values * levels
    if len(values) != levels:
        raise ConfigError(f"model.{name} lists {len(values)} values but the VQ model has "
                          f"{levels} code level(s); give one value, or one per level")
    return list(values)


class CoarserCodes(nn.Module):
    """The condition a finer level sees: coarser codes (B, S_c, S_c) -> (B, M, S, S)."""

    def __init__(self, num_codes: int, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.embedding = nn.Embedding(num_codes, channels)
        self.mix = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, coarser: Tensor) -> Tensor:
        embedded = self.embedding(coarser).permute(0, 3, 1, 2)  # (B, M, S_c, S_c)
        return self.mix(F.interpolate(embedded, size=(self.side, self.side), mode="nearest"))


class CodePrior(nn.Module):
    """One gated PixelCNN per code level, the finer ones conditioned on the level above.

    Args:
        code_levels: [(S_l, K_l)], coarsest first.
        num_classes: classes to condition on (0: unconditional).
        channels, layers: per level.
        kernel_size, embedding_dim, condition_channels: as :class:`CodePriorConfig`'s.
    """

    def __init__(self, code_levels: list[tuple[int, int]], num_classes: int, *,
                 channels: list[int], layers: list[int], kernel_size: int, embedding_dim: int,
                 condition_channels: int) -> None:
        super().__init__()
        self.code_levels = [(int(s), int(k)) for s, k in code_levels]
        self.num_classes = num_classes
        self.levels = nn.ModuleList(
            GatedPixelCNN(k, channels=c, layers=n, kernel_size=kernel_size,
                          embedding_dim=embedding_dim, num_classes=num_classes,
                          condition_channels=condition_channels if level else 0)
            for level, ((_, k), c, n) in enumerate(zip(self.code_levels, channels, layers,
                                                       strict=True))
        )
        self.conditioners = nn.ModuleList(
            CoarserCodes(self.code_levels[level - 1][1], condition_channels, side)
            for level, (side, _) in enumerate(self.code_levels) if level
        )

    def _condition(self, level: int, codes: list[Tensor]) -> Tensor | None:
        """Level ``level``'s spatial condition from the level above, or None for level 0."""
        return self.conditioners[level - 1](codes[level - 1]) if level else None

    def _classes(self, classes: Tensor | None) -> Tensor | None:
        if self.num_classes and classes is None:
            raise ValueError("this prior is class-conditional: pass the classes")
        return classes if self.num_classes else None

    def level_logits(self, level: int, codes: list[Tensor], classes: Tensor | None = None
                     ) -> Tensor:
        """Logits (B, K_l, S_l, S_l) of level ``level`` given ``codes`` (at least levels
        0..level, each (B, S_l, S_l))."""
        return self.levels[level](codes[level], self._classes(classes),
                                  self._condition(level, codes))

    def log_likelihood(self, codes: list[Tensor], classes: Tensor | None = None) -> list[Tensor]:
        """log p(c_l | y, c_{l-1}) in nats per level: codes [(B, S_l, S_l)] -> [(B,)]."""
        self._check_codes(codes)
        return [code_log_likelihood(self.level_logits(level, codes, classes), codes[level])
                for level in range(len(self.levels))]

    @torch.no_grad()
    def sample(self, n: int, classes: Tensor | None = None, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> list[Tensor]:
        """n draws of every level, coarsest first: [(n, S_l, S_l)] long, on the prior's device.
        ``classes``: (n,) for a class-conditional prior."""
        classes = self._classes(classes)
        codes: list[Tensor] = []
        for level, (side, _) in enumerate(self.code_levels):
            condition = self._condition(level, codes)
            # __init__ fills ``levels`` with GatedPixelCNNs alone; ModuleList items are Modules.
            pixelcnn = cast(GatedPixelCNN, self.levels[level])
            codes.append(sample_codes(pixelcnn, n, side, side, classes=classes,
                                      condition=condition, temperature=temperature,
                                      generator=generator))
        return codes

    def _check_codes(self, codes: list[Tensor]) -> None:
        shapes = [tuple(c.shape[1:]) for c in codes]
        expected = [(s, s) for s, _ in self.code_levels]
        if shapes != expected:
            raise ValueError(f"code maps of sides {shapes} do not fit the prior's levels {expected}")


def build_code_prior(cfg: CodePriorConfig, code_levels: list[tuple[int, int]],
                     num_classes: int) -> CodePrior:
    """The prior for a VQ model with ``code_levels`` and a label set of ``num_classes``
    (ignored, as 0, unless ``cfg.class_conditional``), freshly initialised."""
    n = len(code_levels)
    return CodePrior(
        code_levels, num_classes if cfg.class_conditional else 0,
        channels=per_level(cfg.channels, n, "channels"), layers=per_level(cfg.layers, n, "layers"),
        kernel_size=cfg.kernel_size, embedding_dim=cfg.embedding_dim,
        condition_channels=cfg.condition_channels,
    )
