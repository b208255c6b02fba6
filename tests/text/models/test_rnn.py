"""Tests for the recurrent-state helper, across {LSTM, GRU} x {1, 2 layers} x {uni, bi}.

Sizes are odd and distinct (input 11, hidden 13, batch 5, time 9) so that a transposed or
mis-reshaped dimension cannot pass by accident.
"""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textvae.text.models.rnn import final_hidden, index_state, init_state, make_rnn

B, T, IN, H = 5, 9, 11, 13
LENGTHS = torch.tensor([9, 4, 1, 7, 6])

MATRIX = pytest.mark.parametrize(
    ("rnn_type", "num_layers", "bidirectional"),
    [(r, n, bi) for r in ("lstm", "gru") for n in (1, 2) for bi in (False, True)],
)


def _rnn(rnn_type: str, num_layers: int, bidirectional: bool) -> nn.Module:
    torch.manual_seed(0)
    return make_rnn(rnn_type, IN, H, num_layers, bidirectional, dropout=0.0).eval()


def _inputs() -> torch.Tensor:
    # (B, T, IN). Steps beyond each of LENGTHS are garbage that packing must make irrelevant.
    return torch.randn(B, T, IN, generator=torch.Generator().manual_seed(1))


def _run_packed(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor):
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True)  # (B, max_len, D*H)
    return out, state


def _reference_final_hidden(rnn: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Independent reference: rebuild each layer and direction as its own 1-layer RNN, run each
    sentence alone and unpadded, and read the final hidden state off the outputs."""
    directions = 2 if rnn.bidirectional else 1
    rows = []
    for b in range(x.shape[0]):
        layer_input = x[b, : lengths[b]].unsqueeze(0)  # (1, len, IN)
        finals = []
        for layer in range(rnn.num_layers):
            outs = []
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                single = type(rnn)(layer_input.shape[-1], H, batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(single, f"{name}_l0").data.copy_(getattr(rnn, name + suffix))
                seq = layer_input.flip(1) if d == 1 else layer_input
                out, _ = single(seq)  # (1, len, H)
                out = out.flip(1) if d == 1 else out  # back to left-to-right order
                outs.append(out)
                # Forward direction ends at the last word; backward direction ends at the first.
                finals.append(out[0, -1] if d == 0 else out[0, 0])
            layer_input = torch.cat(outs, dim=-1)  # (1, len, D*H)
        rows.append(torch.cat(finals))
    return torch.stack(rows)  # (B, L*D*H)


@MATRIX
@torch.no_grad()
def test_final_hidden_shape_and_reference(rnn_type, num_layers, bidirectional):
    rnn = _rnn(rnn_type, num_layers, bidirectional)
    x = _inputs()
    _, state = _run_packed(rnn, x, LENGTHS)
    summary = final_hidden(state, num_layers, bidirectional)
    directions = 2 if bidirectional else 1
    assert summary.shape == (B, num_layers * directions * H)
    torch.testing.assert_close(summary, _reference_final_hidden(rnn, x, LENGTHS))


@MATRIX
@torch.no_grad()
def test_final_hidden_matches_top_layer_outputs(rnn_type, num_layers, bidirectional):
    rnn = _rnn(rnn_type, num_layers, bidirectional)
    out, state = _run_packed(rnn, _inputs(), LENGTHS)
    summary = final_hidden(state, num_layers, bidirectional)
    directions = 2 if bidirectional else 1
    top = summary[:, (num_layers - 1) * directions * H :]  # last layer's block
    for b in range(B):
        torch.testing.assert_close(top[b, :H], out[b, LENGTHS[b] - 1, :H])
        if bidirectional:
            torch.testing.assert_close(top[b, H:], out[b, 0, H:])


@MATRIX
@torch.no_grad()
def test_final_hidden_ignores_padding(rnn_type, num_layers, bidirectional):
    rnn = _rnn(rnn_type, num_layers, bidirectional)
    x = _inputs()
    _, state = _run_packed(rnn, x, LENGTHS)
    # Append 3 more steps of garbage and scramble everything beyond each true length.
    longer = torch.randn(B, T + 3, IN, generator=torch.Generator().manual_seed(2))
    for b in range(B):
        longer[b, : LENGTHS[b]] = x[b, : LENGTHS[b]]
    _, state_longer = _run_packed(rnn, longer, LENGTHS)
    torch.testing.assert_close(
        final_hidden(state_longer, num_layers, bidirectional),
        final_hidden(state, num_layers, bidirectional),
    )


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_init_state_feeds_rnn(rnn_type, num_layers):
    rnn = _rnn(rnn_type, num_layers, bidirectional=False)
    pre = torch.randn(num_layers, B, H)
    state = init_state(rnn_type, pre)
    if rnn_type == "lstm":
        h0, c0 = state
        assert h0.shape == c0.shape == (num_layers, B, H)
        torch.testing.assert_close(c0, pre)
        torch.testing.assert_close(h0, pre.tanh())
    else:
        assert state.shape == (num_layers, B, H)
        torch.testing.assert_close(state, pre.tanh())
    out, _ = rnn(torch.randn(B, T, IN), state)
    assert out.shape == (B, T, H)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_init_state_zero_is_default_state(rnn_type):
    rnn = _rnn(rnn_type, 2, bidirectional=False)
    x = torch.randn(B, T, IN)
    out_default, _ = rnn(x)
    out_zero, _ = rnn(x, init_state(rnn_type, torch.zeros(2, B, H)))
    torch.testing.assert_close(out_zero, out_default)


@MATRIX
def test_index_state_reorders_batch(rnn_type, num_layers, bidirectional):
    rnn = _rnn(rnn_type, num_layers, bidirectional)
    _, state = rnn(_inputs())
    index = torch.tensor([4, 0, 0, 2])
    picked = index_state(state, index)
    parts = state if isinstance(state, tuple) else (state,)
    picked_parts = picked if isinstance(picked, tuple) else (picked,)
    assert len(parts) == len(picked_parts) == (2 if rnn_type == "lstm" else 1)
    for whole, part in zip(parts, picked_parts, strict=True):
        assert part.shape == (whole.shape[0], 4, H)
        torch.testing.assert_close(part, whole[:, index])
    assert final_hidden(picked, num_layers, bidirectional).shape[0] == 4


def test_make_rnn_registry():
    assert isinstance(make_rnn("lstm", IN, H, 1, False, 0.3), nn.LSTM)
    gru = make_rnn("gru", IN, H, 2, True, 0.3)
    assert isinstance(gru, nn.GRU) and gru.batch_first and gru.dropout == 0.3
    assert make_rnn("gru", IN, H, 1, False, 0.3).dropout == 0.0  # no layer to drop between
    with pytest.raises(ValueError, match="valid"):
        make_rnn("rnn", IN, H, 1, False, 0.0)
    with pytest.raises(ValueError, match="valid"):
        init_state("transformer", torch.zeros(1, B, H))


def test_final_hidden_rejects_wrong_layout():
    with pytest.raises(ValueError, match="layer"):
        final_hidden(torch.zeros(2, B, H), num_layers=2, bidirectional=True)
