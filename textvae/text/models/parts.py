"""What the sentence VAE asks of its encoder and its decoder, whatever their kind.

:class:`~textvae.text.models.sentence_vae.SentenceVAE` owns the shared embedding table, the
posterior heads, the projection of z and the output layer; an encoder part turns embedded tokens
into one vector per sentence, and a decoder part turns embedded tokens (and z's projection) into
one hidden vector per position. The kinds are in :mod:`textvae.text.models.registry`
(``model.encoder``, ``model.decoder``); a new kind subclasses one of these and adds one entry.

Shapes: B = batch, T = time steps, E = embedding size, I = the decoder's input width (E, or
E + Z + C with ``z_to_inputs``), S = the encoder's summary width, H = the decoder's output width,
P = the width of z's projection the decoder reads (:meth:`DecoderPart` ``latent_width``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Generic, TypeVar

import torch
from torch import Tensor, nn

StateT = TypeVar("StateT")


class LatentProjection(nn.Linear):
    """[z, c] -> what the decoder reads of them, (B, Z+C) -> (B, P).

    The first ``added`` outputs are added to the decoder's input embeddings (a transformer's
    ``embedding`` or ``both`` conditioning): their weights and bias start at zero, so the decoder
    starts out reading its words as it would without z. torch's default would start that
    addend near 0.6 RMS for unit z, six times a trained PTB transformer LM's word embeddings
    (0.10), and a decoder warm-started from that LM (``train.init_from``) would first read noise
    for words. Their gradient is z times the addend's, so they move from the first step. With
    ``added = 0`` this is ``nn.Linear``, with the same random draws.
    """

    def __init__(self, in_features: int, out_features: int, added: int = 0) -> None:
        self.added = added  # read by reset_parameters, which nn.Linear's __init__ calls
        super().__init__(in_features, out_features)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.added:
            with torch.no_grad():
                self.weight[: self.added].zero_()  # (added, Z+C)
                self.bias[: self.added].zero_()


class EncoderPart(nn.Module, abc.ABC):
    """Reads a sentence: embedded tokens -> one summary vector per sentence."""

    @property
    @abc.abstractmethod
    def summary_dim(self) -> int:
        """S."""

    @abc.abstractmethod
    def summarize(self, x: Tensor, host_lengths: Sequence[int]) -> Tensor:
        """(B, T, E) embedded encoder input (words + eos, then padding) and the B true lengths
        as Python ints -> (B, S). Padding never changes a sentence's summary."""


class DecoderPart(nn.Module, abc.ABC, Generic[StateT]):
    """Writes a sentence: a causal network over embedded tokens, started from z's projection.

    The state is the part's own (a tensor or a tuple of them, every one with the batch first or,
    for an RNN, second: :meth:`reorder_state` knows which)."""

    @property
    @abc.abstractmethod
    def output_dim(self) -> int:
        """H, what the output layer reads."""

    @abc.abstractmethod
    def initial_state(self, latent: Tensor | None, batch_size: int) -> StateT:
        """The state before the first token, from the (B, P) projection of z, or (``latent``
        None, the LM baseline) a fixed one of ``batch_size`` rows."""

    @abc.abstractmethod
    def run(self, x: Tensor, latent: Tensor | None) -> Tensor:
        """Teacher forcing: (B, T, I) inputs from :meth:`initial_state` -> (B, T, H). A
        position's output depends on no later input (padding at the end changes nothing)."""

    @abc.abstractmethod
    def step(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """One position: (B, 1, I) inputs -> (B, H) outputs and the new state; steps from
        :meth:`initial_state` give what :meth:`run` gives (in eval mode)."""

    @abc.abstractmethod
    def reorder_state(self, state: StateT, index: Tensor) -> StateT:
        """Select or repeat rows of a state by (B',) indices (beam search)."""

    @abc.abstractmethod
    def reset_parameters(self) -> None:
        """Reinitialise the part's own parameters (the collapse remedies' decoder reset)."""
