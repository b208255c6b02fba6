"""The contracts between the sentence models and the code that drives them, as Protocols.

No model inherits from these classes: a model satisfies a contract by having its members, which
mypy checks where a model is passed to a consumer (and at the bottom of this module, for the two
models textvae ships) and ``isinstance`` checks at run time (tests/text/models/test_contracts.py).
docs/architecture.md ("Contracts") says who implements and who consumes each.

- :class:`SentenceDecoder`: what decoding needs (greedy, sampling and beam search in
  :mod:`textvae.text.generate`, the benchmark's decoding throughput): an initial state from z, one
  step, and reordering a state along its batch axis (beam search keeps and repeats hypotheses).
  The state's type is the decoder's own business; decoding only passes it back.
- :class:`SentenceModel`: what training, validation and the collapse remedies need of a sentence
  model, plain or labelled: the teacher-forced pass, the reparameterization, the latent size, and
  which modules are the inference network's and which the generative network's.
- :class:`UnconditionedSentenceModel`: a sentence model that reads the sentence alone (no
  labels) and decodes too: the posterior from a sentence, teacher-forced log-likelihoods and
  step decoding; what the importance-weighted bound and the benchmark need.

Shapes: B = batch, T = time steps, V = vocabulary, Z = latent size, F = label factors,
N = non-pad target positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

from textvae.text.models.sentence_vae import SentenceVAEOutput

__all__ = ["ResettableModule", "SentenceDecoder", "SentenceModel", "UnconditionedSentenceModel"]

StateT = TypeVar("StateT")  # a decoder's state (the sentence VAE's: models.registry.DecoderState)


@runtime_checkable
class SentenceDecoder(Protocol[StateT]):
    """A decoder that generates a sentence token by token from a latent code.

    A state is a tensor, or a (nested) tuple of tensors, on the decoder's device: decoding reads
    the device of its first tensor and never looks inside otherwise.

    Implemented by :class:`~textvae.text.models.sentence_vae.SentenceVAE`, whose state is its
    decoder part's (:data:`~textvae.text.models.registry.DecoderState`): an RNN's
    :data:`~textvae.text.models.rnn.RNNState`, or a transformer's key/value cache
    (:class:`~textvae.text.models.transformer.KVCache`; :class:`~textvae.text.models.transformer.Prefix`
    inside :func:`~textvae.text.models.transformer.recomputing_prefix`). A labelled model decodes
    through its ``vae`` with :meth:`~textvae.text.models.labelled.LabelledSentenceVAE.decoder_latent`
    as z.
    """

    training: bool

    def train(self, mode: bool = True) -> Any:
        """Training mode on or off (decoding runs in eval mode and restores the caller's)."""
        ...

    def eval(self) -> Any:
        ...

    def initial_state(self, z: Tensor | None, batch_size: int) -> StateT:
        """The state before the first token: from (B, Z) z, or for a model without a latent
        (``z`` None) a fixed one for ``batch_size`` rows."""
        ...

    def decode_step(self, tokens: Tensor, state: StateT, z: Tensor | None
                    ) -> tuple[Tensor, StateT]:
        """Feed (B,) tokens: (B, V) next-token logits and the new state. ``z`` is the one
        :meth:`initial_state` was given, row for row."""
        ...

    def reorder_state(self, state: StateT, index: Tensor) -> StateT:
        """Select or repeat rows of a state: (B',) long indices into its batch axis."""
        ...


class ResettableModule(Protocol):
    """A module that can reinitialise its own parameters (``nn.Linear``, ``nn.LSTM``, ...)."""

    def reset_parameters(self) -> None:
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        ...

    def modules(self) -> Iterator[nn.Module]:
        ...


@runtime_checkable
class SentenceModel(Protocol):
    """A sentence model that the trainer, validation and the collapse remedies drive.

    Implemented by :class:`~textvae.text.models.sentence_vae.SentenceVAE` and
    :class:`~textvae.text.models.labelled.LabelledSentenceVAE`.
    """

    model_type: str  # "vae" or "lm" (the LM baseline: no encoder, no latent)
    is_vae: bool
    latent_dim: int  # Z
    training: bool

    def __call__(self, ids: Tensor, lengths: Tensor, /, *labels: Tensor,
                 decoder_inputs: Tensor | None = None, eps: Tensor | None = None,
                 generator: torch.Generator | None = None,
                 host_lengths: Sequence[int] | None = None) -> SentenceVAEOutput:
        """The teacher-forced pass over a framed batch: (B, T+1) ids ``[bos, words, eos, pad]``
        and (B,) lengths (words + eos); a labelled model also takes (B, F) class ids. The
        options are :meth:`SentenceVAE.forward`'s."""
        ...

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None,
                       eps: Tensor | None = None) -> Tensor:
        """(B, Z) z = mu + sigma * eps."""
        ...

    def encoder_modules(self) -> Sequence[nn.Module]:
        """The inference network's own modules (not an embedding table the decoder shares):
        what aggressive training updates alone; empty for a model without a latent."""
        ...

    def decoder_modules(self) -> Sequence[ResettableModule]:
        """The generative network's own modules: what the decoder reset reinitialises (a
        parameter one of them shares with the rest of the model keeps its values)."""
        ...

    def train(self, mode: bool = True) -> Any:
        ...

    def eval(self) -> Any:
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        ...

    def modules(self) -> Iterator[nn.Module]:
        ...

    def state_dict(self) -> dict[str, Any]:
        ...


@runtime_checkable
class UnconditionedSentenceModel(SentenceModel, SentenceDecoder[StateT], Protocol[StateT]):
    """A sentence model over the sentence alone, with its decoder: the posterior of a sentence,
    the log-likelihood of a sentence given z, and step decoding.

    Implemented by :class:`~textvae.text.models.sentence_vae.SentenceVAE` (a labelled model's
    ``vae`` too, but its encoder and decoder then need the labels' condition).
    """

    vocab_size: int  # V

    def encode(self, tokens: Tensor, lengths: Tensor, host_lengths: Sequence[int] | None = None
               ) -> tuple[Tensor, Tensor]:
        """(B, T) encoder input (words + eos, padded) -> ``(mu, logvar)``, each (B, Z)."""
        ...

    def decode(self, inputs: Tensor, lengths: Tensor, z: Tensor | None,
               host_lengths: Sequence[int] | None = None) -> Tensor:
        """Teacher-forced (N, V) logits at the non-pad positions of (B, T) decoder inputs."""
        ...


if TYPE_CHECKING:  # mypy checks that the shipped models keep their contracts
    from textvae.text.models.labelled import LabelledSentenceVAE
    from textvae.text.models.registry import DecoderState
    from textvae.text.models.sentence_vae import SentenceVAE

    # The sentence VAE decodes with whichever decoder part it was built with (an RNN or a
    # transformer, textvae.text.models.registry.DECODERS): its state is any of theirs.
    def _shipped_models_keep_their_contracts(vae: SentenceVAE, labelled: LabelledSentenceVAE) -> None:
        decoder: SentenceDecoder[DecoderState] = vae
        plain: SentenceModel = vae
        with_labels: SentenceModel = labelled
        unconditioned: UnconditionedSentenceModel[DecoderState] = vae
        labelled_decoder: SentenceDecoder[DecoderState] = labelled.vae
        del decoder, plain, with_labels, unconditioned, labelled_decoder
