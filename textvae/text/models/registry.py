"""The kinds of encoder and decoder a sentence VAE is built from (``model.encoder``,
``model.decoder``; docs/architecture.md, "Registries").

A new kind is one module (a subclass of :class:`~textvae.text.models.parts.EncoderPart` or
:class:`~textvae.text.models.parts.DecoderPart`) and one entry here: a builder from
:class:`PartOptions`, the sentence VAE's arguments as plain values, and for a decoder the width
of the projection of z it reads. A test keeps the registries equal to the config's choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from textvae.text.models.parts import DecoderPart, EncoderPart
from textvae.text.models.rnn import RNNState
from textvae.text.models.rnn_parts import rnn_decoder, rnn_encoder
from textvae.text.models.transformer import TransformerDecoder, TransformerEncoder, TransformerState

__all__ = ["DECODERS", "ENCODERS", "DecoderKind", "DecoderState", "PartOptions"]

# The state of any shipped decoder part (what SentenceVAE.initial_state returns).
DecoderState = RNNState | TransformerState


@dataclass(frozen=True)
class PartOptions:
    """What the parts are built from: :class:`~textvae.text.models.sentence_vae.SentenceVAE`'s
    arguments (the ``model`` keys of docs/configs.md), as plain values.

    ``decoder_input_dim`` is E, or E + Z + C when z joins every RNN decoder input
    (``z_to_inputs``); ``conditioned`` says whether the decoder reads z (False for the LM).
    """

    rnn_type: str
    embed_dim: int
    encoder_hidden_dim: int
    decoder_hidden_dim: int
    encoder_layers: int
    decoder_layers: int
    bidirectional: bool
    dropout: float
    decoder_input_dim: int
    conditioned: bool
    heads: int
    ff_dim: int
    positions: str
    max_positions: int
    z_conditioning: str
    memory_slots: int
    encoder_pooling: str


class DecoderKind(NamedTuple):
    """A decoder kind: its builder, the width of the projection of z it reads, and how many of
    those columns it adds to its input embeddings (they start at zero: ``LatentProjection``)."""

    build: Callable[[PartOptions], DecoderPart[Any]]
    latent_width: Callable[[PartOptions], int]
    added_width: Callable[[PartOptions], int] = lambda o: 0


def _rnn_encoder(o: PartOptions) -> EncoderPart:
    return rnn_encoder(o.rnn_type, o.embed_dim, o.encoder_hidden_dim, o.encoder_layers,
                       o.bidirectional, o.dropout)


def _transformer_encoder(o: PartOptions) -> EncoderPart:
    return TransformerEncoder(o.embed_dim, o.encoder_layers, o.heads, o.ff_dim, o.dropout,
                              o.positions, o.max_positions, o.encoder_pooling)


def _rnn_decoder(o: PartOptions) -> DecoderPart[Any]:
    return rnn_decoder(o.rnn_type, o.decoder_input_dim, o.decoder_hidden_dim, o.decoder_layers,
                       o.dropout)


def _transformer_decoder(o: PartOptions) -> DecoderPart[Any]:
    return TransformerDecoder(o.embed_dim, o.decoder_layers, o.heads, o.ff_dim, o.dropout,
                              o.positions, o.max_positions,
                              o.z_conditioning if o.conditioned else None, o.memory_slots)


ENCODERS: dict[str, Callable[[PartOptions], EncoderPart]] = {
    "rnn": _rnn_encoder,
    "transformer": _transformer_encoder,
}

DECODERS: dict[str, DecoderKind] = {
    # z -> every layer's initial state, (B, L*H)
    "rnn": DecoderKind(_rnn_decoder, lambda o: o.decoder_layers * o.decoder_hidden_dim),
    "transformer": DecoderKind(
        _transformer_decoder,
        lambda o: TransformerDecoder.latent_width(o.embed_dim, o.decoder_layers, o.z_conditioning,
                                                  o.memory_slots),
        lambda o: TransformerDecoder.added_width(o.embed_dim, o.z_conditioning)),
}
