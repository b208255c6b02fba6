"""The RNN parts (textvae/text/models/rnn_parts.py) are the plain RNNs they subclass: the same
weights under a seed, the same names, the same reset; what the part adds is its methods.

Sizes are odd and distinct: input 11, hidden 13, 2 layers, batch 5."""

import pytest
import torch
from torch import nn

from textvae.text.models.rnn import make_rnn
from textvae.text.models.rnn_parts import RNNDecoder, RNNEncoder, rnn_decoder, rnn_encoder

CELLS = pytest.mark.parametrize("rnn_type", ["lstm", "gru"])


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@CELLS
@pytest.mark.parametrize("bidirectional", [False, True])
def test_an_encoder_part_draws_what_the_plain_rnn_draws(rnn_type, bidirectional):
    torch.manual_seed(0)
    part = rnn_encoder(rnn_type, 11, 13, 2, bidirectional, 0.1)
    torch.manual_seed(0)
    plain = make_rnn(rnn_type, 11, 13, 2, bidirectional, 0.1)
    assert isinstance(part, RNNEncoder) and isinstance(part, type(plain)) and _same(part, plain)
    assert part.summary_dim == 2 * (2 if bidirectional else 1) * 13
    assert part.summarize(torch.randn(5, 4, 11), [4, 2, 3, 4, 1]).shape == (5, part.summary_dim)


@CELLS
def test_a_decoder_part_draws_and_resets_as_the_plain_rnn(rnn_type):
    torch.manual_seed(0)
    part = rnn_decoder(rnn_type, 11, 13, 2, 0.0)
    torch.manual_seed(0)
    plain = make_rnn(rnn_type, 11, 13, 2, False, 0.0)
    assert isinstance(part, RNNDecoder) and _same(part, plain)
    torch.manual_seed(7)
    part.reset_parameters()  # the cell's own init, not DecoderPart's abstract method
    torch.manual_seed(7)
    plain.reset_parameters()
    assert _same(part, plain)
    x, latent = torch.randn(5, 4, 11), torch.randn(5, 2 * 13)
    expected, _ = plain(x, part.initial_state(latent, 5))
    torch.testing.assert_close(part.run(x, latent), expected, rtol=0, atol=0)
    state = part.initial_state(None, 5)
    assert all(float(t.abs().sum()) == 0 for t in (state if isinstance(state, tuple) else (state,)))
