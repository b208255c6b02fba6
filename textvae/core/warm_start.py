"""Start a model from another trained model's weights wherever the two agree (a warm start).

The use it exists for: a sentence VAE whose decoder and embedding start as a trained language
model's (the LM's state dict is a subset of the VAE's, name for name), so the VAE only has to learn
what the latent adds (the pretrained-decoder start of Optimus, Li et al. 2020). It works between
any two models of one side whose tensors share names: every tensor the source and the new model
both name is copied, and must have the same shape; the new model's other tensors (the encoder, the
Gaussian head, the latent's projection into the decoder) keep their fresh initialisation.

A run that resumes takes its weights from its own ``last`` checkpoint instead; the warm start is
for a run's first step only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from textvae.core.errors import CheckpointError


@dataclass(frozen=True)
class WarmStart:
    """What :func:`load_matching_weights` copied: tensor names, and their element counts."""

    copied: tuple[str, ...]
    left_fresh: tuple[str, ...]
    ignored: tuple[str, ...]  # the source's tensors the new model does not have
    copied_elements: int
    total_elements: int

    def summary(self, source: str) -> str:
        share = self.copied_elements / max(self.total_elements, 1)
        text = (f"warm start from {source}: {len(self.copied)} tensors copied "
                f"({self.copied_elements:,} of {self.total_elements:,} values, {share:.0%}); "
                f"{len(self.left_fresh)} keep their fresh initialisation")
        if self.ignored:
            text += f"; {len(self.ignored)} of the source's are not in this model"
        return text


def load_matching_weights(model: nn.Module, source_state: Mapping[str, torch.Tensor],
                          *, source: str) -> WarmStart:
    """Copy into ``model`` every tensor of ``source_state`` whose name it also has.

    Args:
        model: the new model, freshly built (its own initialisation stands where nothing is copied).
        source_state: the trained model's state dict.
        source: where the state came from, for messages.

    Raises:
        CheckpointError: a shared name with a different shape (the two models were built with
            different sizes, or vocabularies), or no shared name at all (a model of another
            kind); the model is left unchanged either way.
    """
    target = model.state_dict()
    shared = [name for name in target if name in source_state]
    mismatched = [f"{name} {tuple(source_state[name].shape)} vs {tuple(target[name].shape)}"
                  for name in shared if source_state[name].shape != target[name].shape]
    if mismatched:
        raise CheckpointError(
            f"cannot warm-start from {source}: {len(mismatched)} tensors have other shapes there "
            f"than in this model (first: {mismatched[0]}); build the model with the source's "
            "sizes (embed_dim, layers, heads, ff_dim, max_positions) and its tokenizer")
    if not shared:
        raise CheckpointError(
            f"cannot warm-start from {source}: it shares no tensor name with this model "
            "(a model of another kind: an LSTM checkpoint for a transformer decoder, or an "
            "unlabelled run for a labelled one, whose VAE sits under 'vae.' and reads labels)")
    model.load_state_dict({name: source_state[name] for name in shared}, strict=False)
    copied = set(shared)
    return WarmStart(
        copied=tuple(shared),
        left_fresh=tuple(name for name in target if name not in copied),
        ignored=tuple(name for name in source_state if name not in target),
        copied_elements=_distinct_elements(target, shared),
        total_elements=_distinct_elements(target, list(target)),
    )


def _distinct_elements(state: Mapping[str, torch.Tensor], names: list[str]) -> int:
    """Values the named tensors hold, a tensor under two names (tied embeddings) counted once."""
    seen: dict[tuple[int, int], int] = {}
    for name in names:
        tensor = state[name]
        seen[(tensor.data_ptr(), tensor.numel())] = tensor.numel()
    return sum(seen.values())
