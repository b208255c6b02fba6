"""The shared step loop, greedy decoding, sampling and filter_logits."""

import math

import pytest
import torch
from torch import nn

from textvae.core.errors import TextVAEError
from textvae.text.generate import (
    DecodingError,
    beam_search,
    filter_logits,
    greedy_decode,
    sample_decode,
)

from .helpers import BOS, ENDS, EOS, B, latents, tiny_model, varied_model

pytestmark = pytest.mark.usefixtures("one_thread")


def per_row_greedy(model, z, max_len):
    """An independent, unbatched reference: one row at a time, plain Python loop."""
    rows = []
    with torch.no_grad():
        for b in range(z.shape[0]):
            state = model.initial_state(z[b : b + 1], 1)
            token, ids = BOS, []
            for _ in range(max_len):
                logits, state = model.decode_step(torch.tensor([token]), state, z[b : b + 1])
                token = int(logits.argmax(-1))
                if token == EOS:
                    break
                ids.append(token)
            rows.append(ids)
    return rows


# --------------------------------------------------------------------------------------- greedy


def test_greedy_is_deterministic_and_matches_an_unbatched_reference():
    model, z = varied_model(), latents(4)
    first = greedy_decode(model, z, max_len=23, **ENDS)
    assert first == greedy_decode(model, z, max_len=23, **ENDS)
    assert first == per_row_greedy(model, z, 23)
    assert len(first) == B
    assert len({tuple(r) for r in first}) > 1  # the rows really depend on z
    for row in first:
        assert len(row) <= 23 and EOS not in row and BOS not in row


def test_greedy_switches_a_training_model_to_eval_and_back():
    model = varied_model()
    model.dropout.p = 0.5
    model.train()
    z = latents(4)
    a = greedy_decode(model, z, max_len=19, **ENDS)
    assert model.training
    assert a == greedy_decode(model, z, max_len=19, **ENDS)  # no dropout noise


class _CountingSteps(nn.Module):
    """Wraps a model and counts decode_step calls."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.steps = 0

    def initial_state(self, z, batch_size):
        return self.model.initial_state(z, batch_size)

    def decode_step(self, tokens, state, z):
        self.steps += 1
        return self.model.decode_step(tokens, state, z)

    def reorder_state(self, state, index):
        return self.model.reorder_state(state, index)


@pytest.mark.parametrize("decode", ["greedy", "sample", "beam"])
def test_decoders_stop_at_the_end_token_and_at_max_len(decode):
    def run(model, max_len):
        kwargs = {"max_len": max_len, **ENDS}
        if decode == "greedy":
            return greedy_decode(model, latents(), **kwargs)
        if decode == "sample":
            return sample_decode(model, latents(), generator=torch.Generator().manual_seed(0), **kwargs)
        # Raw scores (alpha 0) let beam search stop once no open hypothesis can win.
        return beam_search(model, latents(), beam_size=3, length_normalization=False, **kwargs)

    # eos overwhelmingly likely: every row ends at once, and decoding stops after one step.
    ends_now = _CountingSteps(tiny_model(eos_bias=100.0))
    assert run(ends_now, 11) == [[]] * B
    assert ends_now.steps == 1
    # eos impossible: every row runs to max_len (and holds max_len tokens, none of them eos).
    never_ends = _CountingSteps(tiny_model(eos_bias=-100.0))
    rows = run(never_ends, 11)
    assert never_ends.steps == 11
    assert all(len(r) == 11 and EOS not in r for r in rows)


def test_a_row_never_continues_after_its_end_token():
    # Rows end at different steps; ids after each row's eos must not leak into the output.
    model = varied_model()
    rows = greedy_decode(model, latents(3, rows=17), max_len=29, **ENDS)
    assert len({len(r) for r in rows}) > 2
    assert rows == per_row_greedy(model, latents(3, rows=17), 29)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_max_len_must_be_a_positive_integer(bad):
    model = tiny_model()
    for decode in (greedy_decode, sample_decode, beam_search):
        with pytest.raises(DecodingError, match="max_len") as info:
            decode(model, latents(), max_len=bad, **ENDS)
        assert isinstance(info.value, ValueError) and isinstance(info.value, TextVAEError)


def test_lm_baseline_decodes_without_z():
    model = tiny_model(model_type="lm", eos_bias=3.0)
    rows = greedy_decode(model, None, batch_size=B, max_len=13, **ENDS)
    assert len(rows) == B and len({tuple(r) for r in rows}) == 1  # no z: every row alike
    sampled = sample_decode(model, None, batch_size=B, max_len=13,
                            generator=torch.Generator().manual_seed(3), **ENDS)
    assert len(sampled) == B
    assert beam_search(model, None, batch_size=B, max_len=13, beam_size=1, **ENDS) == rows
    with pytest.raises(DecodingError, match="batch_size"):
        greedy_decode(model, None, max_len=13, **ENDS)


# --------------------------------------------------------------------------------------- sampling


def test_a_sampling_seed_reproduces_its_output_and_another_seed_differs():
    model, z = varied_model(), latents(4)

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return sample_decode(model, z, max_len=17, temperature=1.5, generator=gen, **ENDS)

    assert run(11) == run(11)
    assert run(11) != run(12)


@pytest.mark.parametrize("options", [{"top_k": 1}, {"top_p": 1e-6}, {"top_k": 1, "top_p": 0.5}])
def test_top_k_one_and_tiny_top_p_are_greedy(options):
    model, z = varied_model(), latents(4)
    gen = torch.Generator().manual_seed(5)
    sampled = sample_decode(model, z, max_len=21, temperature=2.0, generator=gen, **options, **ENDS)
    assert sampled == greedy_decode(model, z, max_len=21, **ENDS)


def test_filter_logits_known_answers():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    logits = probs.log()
    kept = lambda out: (out > -math.inf).squeeze(0).tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == [False, True, False, True]
    # Nucleus: 0.5 + 0.3 reaches 0.7 and 0.8; 0.15 more is needed for 0.9.
    assert kept(filter_logits(logits, top_p=0.7)) == [False, True, False, True]
    assert kept(filter_logits(logits, top_p=0.8)) == [False, True, False, True]
    assert kept(filter_logits(logits, top_p=0.9)) == [False, True, True, True]
    assert kept(filter_logits(logits, top_p=1.0)) == [True] * 4
    scaled = filter_logits(logits, temperature=2.0)
    assert torch.allclose(scaled, logits / 2)


@pytest.mark.parametrize(
    "options, match",
    [({"temperature": 0.0}, "temperature"), ({"temperature": float("nan")}, "temperature"),
     ({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p")],
)
def test_sampling_options_are_checked(options, match):
    with pytest.raises(DecodingError, match=match):
        sample_decode(tiny_model(), latents(), max_len=5, **options, **ENDS)
