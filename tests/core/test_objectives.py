import math

import pytest
import torch
import torch.nn.functional as F

from textvae.core.objectives import (
    NLL_CHUNK_ELEMENTS,
    constant_weight,
    cyclical_weight,
    free_bits_kl,
    kl_weight,
    linear_weight,
    logistic_weight,
    reconstruction_nll,
    schedule_for_run,
    token_nll,
    vae_objective,
    word_deletion,
    word_dropout,
)
from textvae.text.run.config import KLScheduleConfig

V = 37


def test_reconstruction_nll_sums_per_sentence():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([3, 1, 5])
    n = int(lengths.sum())
    logits = torch.randn(n, V, generator=gen)
    targets = torch.randint(V, (n,), generator=gen)
    nll = reconstruction_nll(logits, targets, lengths)
    token = -F.log_softmax(logits, -1)[torch.arange(n), targets]
    expected = torch.stack([token[:3].sum(), token[3:4].sum(), token[4:].sum()])
    torch.testing.assert_close(nll, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    "rows, vocab, chunk_rows",
    # 23 rows: chunks of 4 leave a ragged last chunk of 3; 64 is one chunk. (331, 2003) by
    # default: chunks of 327 rows (NLL_CHUNK_ELEMENTS // 2003) and a last one of 4.
    [(23, V, 1), (23, V, 4), (23, V, 64), (23, V, None), (331, 2003, None)],
)
def test_token_nll_matches_cross_entropy_value_and_gradient(dtype, rows, vocab, chunk_rows):
    gen = torch.Generator().manual_seed(1)
    logits = (3 * torch.randn(rows, vocab, generator=gen)).to(dtype)
    targets = torch.randint(vocab, (rows,), generator=gen)
    weights = torch.rand(rows, generator=gen)  # a non-uniform upstream gradient
    ours = logits.clone().requires_grad_()
    nll = token_nll(ours, targets, chunk_rows=chunk_rows)
    (nll * weights).sum().backward()
    reference = logits.clone().requires_grad_()
    expected = F.cross_entropy(reference.float(), targets, reduction="none")
    (expected * weights).sum().backward()
    assert nll.dtype == torch.float32 and ours.grad.dtype == dtype
    # Small logits go to the fused kernel whole; the rest are chunked.
    chunked = chunk_rows is not None or rows * vocab > NLL_CHUNK_ELEMENTS
    assert ("Chunked" in type(nll.grad_fn).__name__) == chunked
    torch.testing.assert_close(nll, expected)
    torch.testing.assert_close(ours.grad, reference.grad)
    torch.testing.assert_close(ours.detach(), logits)  # the input is not edited in place


def test_token_nll_gradcheck_in_float64():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    assert torch.autograd.gradcheck(lambda x: token_nll(x, targets, chunk_rows=3), (logits,))


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.0), (250, 0.25), (999, 0.999), (1000, 1.0), (5000, 1.0)],
)
def test_linear_schedule(step, expected):
    assert linear_weight(step, warmup_steps=1000) == pytest.approx(expected)


def test_logistic_schedule_pinned_values():
    # Bowman et al.: 1 / (1 + exp(-k (step - x0))).
    assert logistic_weight(2500, k=0.0025, x0=2500) == pytest.approx(0.5)
    assert logistic_weight(0, k=0.0025, x0=2500) == pytest.approx(1 / (1 + math.exp(6.25)))
    assert logistic_weight(5000, k=0.0025, x0=2500) == pytest.approx(1 / (1 + math.exp(-6.25)))
    assert logistic_weight(10**9, k=0.0025, x0=2500) == pytest.approx(1.0)
    assert logistic_weight(-(10**9), k=0.0025, x0=2500) == 0.0
    assert logistic_weight(2500, k=0.0025, x0=2500, max_weight=0.4) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "step, expected",
    # 4 cycles over 1000 steps -> period 250; rising for the first half (125 steps).
    [(0, 0.0), (62.5, 0.5), (125, 1.0), (200, 1.0), (250, 0.0), (300, 0.4), (999, 1.0), (1000, 1.0), (1700, 1.0)],
)
def test_cyclical_schedule(step, expected):
    assert cyclical_weight(step, total_steps=1000, n_cycles=4, ratio=0.5) == pytest.approx(expected)


def test_kl_weight_dispatches_on_kind():
    assert kl_weight(7, KLScheduleConfig(kind="constant", max_weight=0.3)) == constant_weight(7, max_weight=0.3)
    assert kl_weight(250, KLScheduleConfig(kind="linear", warmup_steps=1000)) == pytest.approx(0.25)
    assert kl_weight(2500, KLScheduleConfig(kind="logistic", k=0.0025, x0=2500)) == pytest.approx(0.5)
    cyc = KLScheduleConfig(kind="cyclical", total_steps=1000, n_cycles=4, ratio=0.5)
    assert kl_weight(300, cyc) == pytest.approx(0.4)


def test_free_bits_per_dimension_and_total():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 4.0, 0.0]])  # (B=2, Z=3); per-dim means .2, 3, 0
    assert free_bits_kl(kl, 0.5, "dim").item() == pytest.approx(0.5 + 3.0 + 0.5)
    assert free_bits_kl(kl, 10.0, "total").item() == pytest.approx(10.0)
    assert free_bits_kl(kl, 1.0, "total").item() == pytest.approx(3.2)
    with pytest.raises(ValueError):
        free_bits_kl(kl, 1.0, "group")


def test_free_bits_stops_gradient_below_target():
    kl = torch.tensor([[0.1, 2.0]], requires_grad=True)
    free_bits_kl(kl, 0.5, "dim").backward()
    assert kl.grad.tolist() == [[0.0, 1.0]]


def _dropout_batch():
    gen = torch.Generator().manual_seed(0)
    B, T = 301, 23
    lengths = torch.randint(2, T + 1, (B,), generator=gen)
    inputs = torch.randint(4, 37, (B, T), generator=gen)
    inputs[:, 0] = 2  # bos
    pad = torch.arange(T)[None, :] >= lengths[:, None]
    inputs[pad] = 0
    return inputs, lengths, pad


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 1.0])
def test_word_dropout_keeps_bos_and_padding_and_matches_rate(p):
    inputs, lengths, pad = _dropout_batch()
    out = word_dropout(inputs, lengths, p, unk_id=1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, 0], inputs[:, 0])
    assert torch.equal(out[pad], inputs[pad])
    words = ~pad
    words[:, 0] = False
    replaced = (out[words] == 1).float().mean().item()
    assert replaced == pytest.approx(p, abs=0.02)
    assert torch.equal(out[words][out[words] != 1], inputs[words][out[words] != 1])


def test_word_dropout_does_not_modify_input_and_is_seeded():
    inputs, lengths, _ = _dropout_batch()
    before = inputs.clone()
    a = word_dropout(inputs, lengths, 0.3, unk_id=1, generator=torch.Generator().manual_seed(5))
    b = word_dropout(inputs, lengths, 0.3, unk_id=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(inputs, before)
    assert torch.equal(a, b)


def _deletion_batch():
    """(5, 9) encoder inputs, words then the end token 2 then padding 0, lengths 9, 1, 4, 7, 3."""
    lengths = [9, 1, 4, 7, 3]
    rows = []
    for r, n in enumerate(lengths):
        words = [10 + 13 * r + i for i in range(n - 1)]  # distinct, increasing per row
        rows.append(words + [2] + [0] * (9 - n))
    return torch.tensor(rows), lengths


@pytest.mark.parametrize("p", [0.15, 0.4])
def test_word_deletion_keeps_order_and_the_end_token_and_matches_rate(p):
    tokens, lengths = _deletion_batch()
    deleted = total = 0
    for seed in range(60):
        kept, kept_lengths = word_deletion(tokens, lengths, p, pad_id=0,
                                           generator=torch.Generator().manual_seed(seed))
        assert kept.shape == (5, max(kept_lengths))
        for r, (n, m) in enumerate(zip(lengths, kept_lengths, strict=True)):
            row = kept[r].tolist()
            assert 1 <= m <= n and row[m - 1] == 2  # the end token survives, last
            assert row[m:] == [0] * (len(row) - m)  # then padding
            words = row[: m - 1]
            assert words == sorted(words)  # order kept
            assert set(words) <= set(tokens[r, : n - 1].tolist())
            deleted += (n - 1) - len(words)
            total += n - 1
    assert deleted / total == pytest.approx(p, abs=0.04)


def test_word_deletion_is_seeded_pure_and_off_at_zero():
    tokens, lengths = _deletion_batch()
    before = tokens.clone()
    a = word_deletion(tokens, lengths, 0.3, pad_id=0, generator=torch.Generator().manual_seed(7))
    b = word_deletion(tokens, lengths, 0.3, pad_id=0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert torch.equal(tokens, before)
    same, same_lengths = word_deletion(tokens, lengths, 0.0, pad_id=0)
    assert torch.equal(same, tokens) and same_lengths == lengths


def test_objective_logs_true_elbo_separately_from_loss():
    rec = torch.tensor([10.0, 20.0], requires_grad=True)
    kl = torch.tensor([[1.0, 0.0, 0.5], [3.0, 0.0, 0.5]])
    terms = vae_objective(rec, kl, kl_weight=0.1, free_bits=0.0)
    assert terms.reconstruction.item() == pytest.approx(15.0)
    assert terms.kl.item() == pytest.approx(2.5)
    assert terms.neg_elbo.item() == pytest.approx(17.5)
    assert terms.loss.item() == pytest.approx(15.25)
    fb = vae_objective(rec, kl, kl_weight=1.0, free_bits=1.0)
    assert fb.loss.item() == pytest.approx(15.0 + 2.0 + 1.0 + 1.0)
    assert fb.neg_elbo.item() == pytest.approx(17.5)
    lm = vae_objective(rec, None)
    assert lm.kl.item() == 0.0 and lm.loss.item() == pytest.approx(15.0)


@pytest.mark.parametrize("kind", ["linear", "logistic", "cyclical"])
def test_an_anneal_fraction_ends_the_annealing_at_that_share_of_the_run(kind):
    schedule = KLScheduleConfig(kind=kind, max_weight=0.7, anneal_fraction=0.4, n_cycles=3)
    run = schedule_for_run(schedule, planned_steps=1013)
    span = round(0.4 * 1013)  # 405
    assert run.anneal_fraction is None  # the saved config holds the steps it chose
    assert kl_weight(0, run) < 0.02
    assert kl_weight(span, run) >= 0.99 * 0.7
    assert kl_weight(span // 10, run) < 0.7  # still rising early on
    if kind == "logistic":
        assert run.x0 == span // 2 and kl_weight(span // 2, run) == pytest.approx(0.35)
    if kind == "linear":
        assert run.warmup_steps == span
    if kind == "cyclical":
        assert run.total_steps == span


def test_a_schedule_without_a_fraction_is_unchanged():
    schedule = KLScheduleConfig(kind="logistic", x0=2500)
    assert schedule_for_run(schedule, planned_steps=97) is schedule
    constant = KLScheduleConfig(kind="constant", anneal_fraction=0.5)
    assert schedule_for_run(constant, planned_steps=97) is constant


def test_every_kl_kind_a_config_accepts_has_a_schedule_and_nothing_else_does():
    import typing

    from textvae.core.objectives import KL_SCHEDULES, kl_weighting

    kinds = typing.get_args(typing.get_type_hints(KLScheduleConfig)["kind"])
    assert set(KL_SCHEDULES) == set(kinds)
    for kind in kinds:  # each weight is the schedule's own, rising to max_weight 0.7
        schedule = KLScheduleConfig(kind=kind, max_weight=0.7, warmup_steps=9, x0=5, k=2.0,
                                    total_steps=13, n_cycles=1, ratio=1.0,
                                    target=3.0 if kind == "target" else None, ki=0.01)
        driven = kl_weighting(schedule, torch.device("cpu"))
        if KL_SCHEDULES[kind].weight is None:  # follows the KL: rises while it is above target
            assert float(driven.weight(0)) == 0.0
            for _ in range(203):
                driven.observe(torch.tensor(5.0))
            assert float(driven.weight(10**6)) == pytest.approx(0.7)
            assert driven.state_dict()
            with pytest.raises(ValueError, match="no function of the step"):
                kl_weight(0, schedule)
            continue
        assert driven.weight(10**6) == kl_weight(10**6, schedule) == pytest.approx(0.7)
        assert kl_weight(0, schedule) == (0.7 if kind == "constant" else pytest.approx(0, abs=1e-4))
        driven.observe(torch.tensor(5.0))  # a pure schedule observes nothing, keeps nothing
        assert driven.weight(3) == kl_weight(3, schedule) and driven.state_dict() == {}
