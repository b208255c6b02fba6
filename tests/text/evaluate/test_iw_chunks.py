"""textvae.text.evaluate.iw: how chunks are sized to the device (chunk_rule, with CUDA's free memory
monkeypatched), how sentences are grouped into passes, and that neither changes any sentence's
result (vocab 37, latent 7, embed 11, hidden 13/17)."""

import pytest
import torch

from tests.text.evaluate.test_iw import TOK, V, sentences, tiny_model
from textvae.text.evaluate import iw
from textvae.text.evaluate.iw import ChunkRule, chunk_rule, iw_nll, iw_nll_reference

pytestmark = pytest.mark.usefixtures("one_thread")
MIB = 2**20


def test_chunk_rows_from_the_budget():
    rule = ChunkRule(8 * 23 * 37 * 5 + 7)  # room for 5 rows of 23 steps, V = 37, and a bit
    assert rule.rows(23, 37) == 5
    assert rule.rows(24, 37) == 4  # longer sentences: fewer rows
    assert ChunkRule(1).rows(23, 37) == 1  # never fewer than one row
    assert ChunkRule(10**12, max_rows=3).rows(23, 37) == 3


def test_cpu_keeps_its_budget_and_cap():
    rule = chunk_rule("cpu")
    assert rule == ChunkRule(256 * MIB, iw.CPU_MAX_CHUNK_ROWS, fill_passes=False)
    assert chunk_rule("cpu", memory_mb=3) == ChunkRule(3 * MIB, iw.CPU_MAX_CHUNK_ROWS, False)
    # PTB (V = 10,002) sentences of 25 targets: 134 rows fit 256 MB, under the 512-row cap.
    assert rule.rows(25, 10002) == 134


def _fake_cuda(monkeypatch, *, free, reserved, allocated):
    calls = []

    def mem_get_info(device):
        calls.append(torch.device(device))
        return free, 141 * 2**30

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: reserved)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: allocated)
    return calls


def test_cuda_budget_is_half_the_free_memory(monkeypatch):
    calls = _fake_cuda(monkeypatch, free=100 * 2**30, reserved=7 * 2**30, allocated=3 * 2**30)
    rule = chunk_rule("cuda:1")
    assert calls == [torch.device("cuda:1")]
    # Half of (free + the cache's 4 GiB held unused), no row cap.
    assert rule == ChunkRule(52 * 2**30, None, fill_passes=True)
    # PTB at K = 500: 29,074 rows of 24 targets fit the budget, but a chunk holds at most 2^31
    # logits: 8,946 rows, the samples of 17 sentences. A smaller budget binds first.
    assert rule.rows(24, 10002) == (2**31 - 1) // (24 * 10002) == 8946
    assert ChunkRule(2 * 2**30).rows(24, 10002) == 2 * 2**30 // (8 * 24 * 10002) == 1118


def test_memory_mb_overrides_the_cuda_budget(monkeypatch):
    calls = _fake_cuda(monkeypatch, free=100 * 2**30, reserved=0, allocated=0)
    assert chunk_rule("cuda", memory_mb=256) == ChunkRule(256 * MIB, None)
    assert calls == []


def test_passes_fill_a_chunk_with_short_sentences_and_small_k():
    lengths = [5, 2, 9, 2, 7] * 40  # 200 sentences
    big = ChunkRule(8 * 9 * V * 1000)  # 1,000 rows at the longest length
    passes = iw._passes(lengths, 3, V, big, None)
    flat = [i for p in passes for i in p]
    assert sorted(flat) == list(range(200))
    assert [lengths[i] for i in flat] == sorted(lengths)  # length order, ties in input order
    assert len(passes) == 1  # 200 x 3 rows fit one chunk: one pass, not four of 64
    small = ChunkRule(8 * 9 * V * 10)  # 10 rows: the pass keeps at least 64 sentences
    assert [len(p) for p in iw._passes(lengths, 3, V, small, None)] == [64, 64, 64, 8]
    fixed = iw._passes(lengths, 3, V, big, 7)
    assert [len(p) for p in fixed] == [7] * 28 + [4]
    cpu = ChunkRule(big.budget_bytes, fill_passes=False)  # the CPU's passes: 64 sentences
    assert [len(p) for p in iw._passes(lengths, 3, V, cpu, None)] == [64, 64, 64, 8]


@pytest.fixture
def uncapped(monkeypatch):
    """No CPU row cap, so that ``memory_mb`` alone sizes the chunks, as on CUDA."""
    monkeypatch.setattr(iw, "CPU_MAX_CHUNK_ROWS", None)


def test_results_do_not_depend_on_the_memory_budget(uncapped, monkeypatch):
    # float32: the model keeps its posterior heads in float32 whatever its dtype, so it cannot
    # run in float64. The draws are the same bit for bit (z is compared exactly); the IW-NLL
    # then differs only by the float32 rounding of differently sized decoder calls (1.6e-7
    # nats at most when this test was written), well inside 1e-6, while another seed moves
    # it by more than 1e-3.
    model, ids = tiny_model(), sentences(count=17, seed=6)
    k = 29
    decoder_calls = []
    rows_log_likelihood = iw._rows_log_likelihood

    def counted(model, ids, lengths, z):
        decoder_calls.append(len(lengths))
        return rows_log_likelihood(model, ids, lengths, z)

    monkeypatch.setattr(iw, "_rows_log_likelihood", counted)
    results = {}
    for memory_mb in (1e-9, 0.01, 0.2, 1e6):  # 1 row per chunk ... every row in one chunk
        decoder_calls.clear()
        results[memory_mb] = iw_nll(model, ids, TOK, samples=k, memory_mb=memory_mb, seed=11)
        assert sum(decoder_calls) == len(ids) * k
        if memory_mb == 1e-9:
            assert decoder_calls == [1] * (len(ids) * k)
        if memory_mb == 1e6:
            assert decoder_calls == [len(ids) * k]
    base = results[1e6]
    for res in results.values():
        for key in ("iw_nll", "neg_elbo", "reconstruction", "kl"):
            torch.testing.assert_close(res[key], base[key], atol=1e-6, rtol=0)
        assert torch.equal(res["z"], base["z"]) and torch.equal(res["mu"], base["mu"])
    # Explicit batch sizes and row counts, and the one-sentence protocol, agree as well.
    fixed = iw_nll(model, ids, TOK, samples=k, batch_size=3, chunk_rows=7, seed=11)
    torch.testing.assert_close(fixed["iw_nll"], base["iw_nll"], atol=1e-6, rtol=0)
    reference = iw_nll_reference(model, ids, TOK, samples=k, chunk=5, seed=11)
    torch.testing.assert_close(reference, base["iw_nll"], atol=1e-6, rtol=0)
    # A different seed does change the estimate (the test would be vacuous otherwise).
    other = iw_nll(model, ids, TOK, samples=k, memory_mb=0.2, seed=12)
    assert (other["iw_nll"] - base["iw_nll"]).abs().max() > 1e-3


def test_cuda_evaluation_runs_rnns_in_ieee_float32():
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if rnn is None or not hasattr(rnn, "fp32_precision"):
        pytest.skip("torch before 2.9 has no per-operator TF32 setting")
    saved = rnn.fp32_precision
    with iw.ieee_float32_rnns(torch.device("cuda")):
        assert rnn.fp32_precision == "ieee"
    assert rnn.fp32_precision == saved
    with iw.ieee_float32_rnns(torch.device("cpu")):
        assert rnn.fp32_precision == saved


def test_passes_that_fill_a_chunk_do_not_change_the_result(monkeypatch):
    """CUDA's rule (passes grow to fill a chunk) against the CPU's (passes of 64), on the CPU."""
    model, ids = tiny_model(), sentences(count=150, seed=7)
    cpu = iw_nll(model, ids, TOK, samples=3, seed=2)
    passes = []
    plan = iw._passes
    monkeypatch.setattr(iw, "_passes", lambda *a: passes.append(plan(*a)) or passes[-1])
    monkeypatch.setattr(iw, "chunk_rule", lambda device, memory_mb: ChunkRule(10**9))
    filled = iw_nll(model, ids, TOK, samples=3, seed=2)
    assert len(passes[0]) == 1  # all 150 sentences in one pass, not 64 + 64 + 22
    for key in ("iw_nll", "neg_elbo", "kl"):
        torch.testing.assert_close(filled[key], cpu[key], atol=1e-6, rtol=0)
