"""The RNN encoder and decoder parts of the sentence VAE (``model.encoder`` / ``model.decoder``
``rnn``, with ``model.rnn_type`` the cell): Bowman et al. 2016's.

Each part *is* its ``nn.LSTM`` or ``nn.GRU`` (a subclass that adds the part's methods), so the
weights keep the names every checkpoint has had (``encoder.weight_ih_l0``, ...) and building one
draws the same random numbers as a plain RNN.

Shapes: B = batch, T = time steps, E = embedding size, I = decoder input width, H = hidden size
(per direction), L = layers, D = directions, P = L*H (the projection of z a decoder reads).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from textvae.text.models.parts import DecoderPart, EncoderPart
from textvae.text.models.rnn import RNNState, final_hidden, index_state, init_state, make_rnn


class RNNEncoder(EncoderPart):
    """The final hidden state of every layer and direction: (B, T, E) -> (B, L*D*H).

    A mixin over ``nn.LSTM`` / ``nn.GRU`` (:class:`LSTMEncoder`, :class:`GRUEncoder`)."""

    num_layers: int
    hidden_size: int
    bidirectional: bool

    @property
    def summary_dim(self) -> int:
        return self.num_layers * (2 if self.bidirectional else 1) * self.hidden_size

    def summarize(self, x: Tensor, host_lengths: Sequence[int]) -> Tensor:
        if min(host_lengths) == x.shape[1]:
            # No row is padded (length-bucketed training batches mostly are like this): the
            # plain run already ends at every row's true end, and skips the packing, which
            # also lets the CPU use oneDNN's fused recurrent kernel.
            _, state = self(x)  # (L*D, B, H)
        else:
            # Packing makes the final state the one at each sentence's true length, not at
            # the end of the padding.
            packed = pack_padded_sequence(x, torch.tensor(host_lengths), batch_first=True,
                                          enforce_sorted=False)  # CPU lengths, as it wants
            _, state = self(packed)  # (L*D, B, H), returned in the original batch order
        return final_hidden(state, self.num_layers, self.bidirectional)  # (B, L*D*H)


class RNNDecoder(DecoderPart[RNNState]):
    """A unidirectional RNN started from z: (B, T, I) -> (B, T, H).

    A mixin over ``nn.LSTM`` / ``nn.GRU`` (:class:`LSTMDecoder`, :class:`GRUDecoder`)."""

    rnn_type: str
    num_layers: int
    hidden_size: int

    @property
    def output_dim(self) -> int:
        return self.hidden_size

    def initial_state(self, latent: Tensor | None, batch_size: int) -> RNNState:
        """(L, B, H) for a GRU, an ``(h, c)`` pair of those for an LSTM, from the (B, L*H)
        projection of z (:func:`~textvae.text.models.rnn.init_state` says how it sets h and c),
        or all zeros for the LM baseline."""
        if latent is None:
            weight = next(self.parameters())  # fixes the device and dtype
            pre = weight.new_zeros(self.num_layers, batch_size, self.hidden_size)
        else:
            pre = latent.view(latent.shape[0], self.num_layers, self.hidden_size)  # (B, L, H)
            pre = pre.transpose(0, 1).contiguous()  # (L, B, H); cuDNN wants it contiguous
        return init_state(self.rnn_type, pre)

    def run(self, x: Tensor, latent: Tensor | None) -> Tensor:
        # Unpacked: padding sits at the end, so it cannot change earlier outputs.
        outputs, _ = self(x, self.initial_state(latent, x.shape[0]))  # (B, T, H)
        return outputs

    def step(self, x: Tensor, state: RNNState) -> tuple[Tensor, RNNState]:
        output, state = self(x, state)  # (B, 1, H)
        return output.squeeze(1), state

    def reorder_state(self, state: RNNState, index: Tensor) -> RNNState:
        return index_state(state, index)

    def reset_parameters(self) -> None:
        nn.RNNBase.reset_parameters(self)  # type: ignore[arg-type]  # the cell's own init


# The part mixins come first so that their methods win. DecoderPart's abstract reset_parameters
# would then hide the cell's, which nn.RNNBase.__init__ calls to draw the initial weights:
# RNNDecoder names the cell's own.
class LSTMEncoder(RNNEncoder, nn.LSTM):
    """An LSTM encoder part."""


class GRUEncoder(RNNEncoder, nn.GRU):
    """A GRU encoder part."""


class LSTMDecoder(RNNDecoder, nn.LSTM):
    """An LSTM decoder part."""

    rnn_type = "lstm"


class GRUDecoder(RNNDecoder, nn.GRU):
    """A GRU decoder part."""

    rnn_type = "gru"


def rnn_encoder(rnn_type: str, embed_dim: int, hidden_dim: int, layers: int, bidirectional: bool,
                dropout: float) -> RNNEncoder:
    """An LSTM or GRU encoder part (the arguments of :func:`~textvae.text.models.rnn.make_rnn`)."""
    rnn = make_rnn(rnn_type, embed_dim, hidden_dim, layers, bidirectional, dropout,
                   registry={"lstm": LSTMEncoder, "gru": GRUEncoder})
    assert isinstance(rnn, RNNEncoder)
    return rnn


def rnn_decoder(rnn_type: str, input_dim: int, hidden_dim: int, layers: int,
                dropout: float) -> RNNDecoder:
    """An LSTM or GRU decoder part, unidirectional."""
    rnn = make_rnn(rnn_type, input_dim, hidden_dim, layers, False, dropout,
                   registry={"lstm": LSTMDecoder, "gru": GRUDecoder})
    assert isinstance(rnn, RNNDecoder)
    return rnn
