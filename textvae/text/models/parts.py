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

from torch import Tensor, nn

StateT = TypeVar("StateT")


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
