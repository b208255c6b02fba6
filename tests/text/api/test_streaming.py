"""Streaming generation (iter_sample, iter_interpolate) and the up-front memory bound of the
methods that return lists (textvae.text.api.memory)."""

import itertools
import time
import tracemalloc

import pytest
import torch
from tiny import train_tiny

import textvae.text.api.memory as memory
import textvae.text.api.model as model_module
from textvae.text.api import InputError, TextVAE, load
from textvae.text.api.memory import estimate_generation_bytes
from textvae.text.generate import DecodingError, interpolation_path

pytestmark = pytest.mark.usefixtures("one_thread")


_train = train_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("stream") / "run", "train.max_steps=3")


@pytest.fixture(scope="module")
def lm_run_dir(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("stream-lm") / "run", "model.model_type=lm",
                  "train.max_steps=2")


@pytest.fixture
def tv(run_dir):
    return load(run_dir, device="cpu")


@pytest.fixture
def pair(tv):
    """Two sentences of the tiny model's own words."""
    words = [w for w in tv.tokenizer.tokens[4:] if w.isalpha()]
    return " ".join(words[:3]), " ".join(words[3:7])


@pytest.fixture
def decoder_calls(monkeypatch):
    """Rows of every decoder call, in order."""
    calls = []
    real = TextVAE._decode_with

    def spy(self, z, rows, generator, options):
        calls.append(rows)
        return real(self, z, rows, generator, options)

    monkeypatch.setattr(TextVAE, "_decode_with", spy)
    return calls


# ------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("chunk", [3, 7])
@pytest.mark.parametrize(("method", "prior"), [("greedy", "standard"), ("sample", "aggregate"),
                                               ("beam", "standard")])
def test_iter_sample_is_sample_a_chunk_at_a_time(tv, monkeypatch, decoder_calls, chunk, method,
                                                  prior):
    monkeypatch.setattr(model_module, "CHUNK", chunk)
    n, opts = 23, {"method": method, "prior": prior, "seed": 5, "max_len": 9}
    texts, z = tv.sample(n, return_latents=True, **opts)
    assert decoder_calls == [chunk] * (n // chunk) + [n % chunk]  # 23 = 3 x 7 + 2 = 7 x 3 + 2
    assert list(tv.iter_sample(n, **opts)) == texts

    decoder_calls.clear()
    rows = tv.iter_sample(n, return_latents=True, **opts)
    first = next(rows)
    assert decoder_calls == [chunk]  # one chunk drawn and decoded, not all n
    rest = list(rows)
    assert [t for t, _ in [first, *rest]] == texts
    assert torch.equal(torch.stack([row_z for _, row_z in [first, *rest]]), z)
    assert z.shape == (n, 7)


def test_iter_sample_of_the_lm_baseline_has_no_latents(lm_run_dir, monkeypatch):
    monkeypatch.setattr(model_module, "CHUNK", 5)
    lm = load(lm_run_dir, device="cpu")
    texts, z = lm.sample(12, seed=2, max_len=9, return_latents=True)
    assert z is None
    assert list(lm.iter_sample(12, seed=2, max_len=9, return_latents=True)) == [(t, None) for t in texts]


@pytest.mark.parametrize("path", ["linear", "slerp"])
@pytest.mark.parametrize("method", ["greedy", "sample"])
def test_iter_interpolate_is_interpolate_a_chunk_at_a_time(tv, pair, monkeypatch, decoder_calls,
                                                           path, method):
    monkeypatch.setattr(model_module, "CHUNK", 4)
    a, b = pair
    opts = {"steps": 11, "path": path, "method": method, "seed": 3, "max_len": 9}
    texts, z = tv.interpolate(a, b, return_latents=True, **opts)
    assert decoder_calls == [4, 4, 3]
    assert list(tv.iter_interpolate(a, b, **opts)) == texts
    mu, _ = tv.encode([a, b])
    whole = interpolation_path(mu[0], mu[1], steps=11, path=path)  # (11, Z) in one call
    assert torch.allclose(z, whole, atol=1e-6)
    assert torch.equal(z[0], mu[0]) and torch.equal(z[-1], mu[1])
    streamed = list(tv.iter_interpolate(a, b, return_latents=True, **opts))
    assert torch.equal(torch.stack([row_z for _, row_z in streamed]), z)


def test_streams_check_their_arguments_when_called(tv, pair):
    with pytest.raises(InputError, match="n must be an integer >= 1"):
        tv.iter_sample(0)
    with pytest.raises(InputError, match="unknown prior"):
        tv.iter_sample(3, prior="uniform")
    with pytest.raises(DecodingError, match="steps must be an integer >= 2"):
        tv.iter_interpolate(*pair, steps=1)
    with pytest.raises(DecodingError, match="unknown interpolation path"):
        tv.iter_interpolate(*pair, path="circle")
    with pytest.raises(InputError, match="sentence 2 is empty"):
        tv.iter_interpolate(pair[0], " ")


# ------------------------------------------------------------------------------------ the estimate


def test_estimate_counts_latents_tokens_and_rows():
    # rows x (copies x Z x 4 bytes + max_len x 8 bytes + 100 bytes), with odd sizes
    assert estimate_generation_bytes(13, latent_dim=7, max_len=11, latent_copies=3) == 13 * (
        3 * 7 * 4 + 11 * 8 + 100)
    assert estimate_generation_bytes(5, latent_dim=0, max_len=9, latent_copies=2) == 5 * (9 * 8 + 100)
    assert estimate_generation_bytes(0, latent_dim=7, max_len=11) == 0


def test_estimate_bounds_what_each_kept_row_adds(tv):
    # What grows with the rows (a chunk's ids and decoder state are the same for any n): the
    # 3-step model rarely ends a sentence before max_len, the worst case the estimate assumes.
    max_len, peaks = 13, []
    for n in (301, 1201):
        tracemalloc.start()
        texts = tv.sample(n, seed=0, max_len=max_len)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sum(len(t.split()) for t in texts) > 0.5 * n * max_len
    per_row = estimate_generation_bytes(1, latent_dim=7, max_len=max_len, latent_copies=0)
    assert 0 < (peaks[1] - peaks[0]) / 900 <= per_row


def _fake_files(monkeypatch, files):
    def fake_open(path, *args, **kwargs):
        if path not in files:
            raise FileNotFoundError(path)
        import io

        return io.StringIO(files[path])

    monkeypatch.setattr(memory, "open", fake_open, raising=False)


def test_available_memory_reads_meminfo_then_cgroup_then_falls_back(monkeypatch):
    meminfo = "MemTotal:       24683652 kB\nMemFree:  1000 kB\nMemAvailable:   7654321 kB\n"
    _fake_files(monkeypatch, {"/proc/meminfo": meminfo})
    assert memory.available_memory_bytes() == 7654321 * 1024
    _fake_files(monkeypatch, {"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "3000000000\n",
                              "/sys/fs/cgroup/memory.current": "1000000000\n"})
    assert memory.available_memory_bytes() == 2_000_000_000  # the container's room
    _fake_files(monkeypatch, {"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n",
                              "/sys/fs/cgroup/memory.current": "1000000000\n"})
    assert memory.available_memory_bytes() == 7654321 * 1024  # no limit
    _fake_files(monkeypatch, {})
    pages = {"SC_AVPHYS_PAGES": 37, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(memory.os, "sysconf", lambda name: pages[name])
    assert memory.available_memory_bytes() == 37 * 4096
    monkeypatch.setattr(memory.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert memory.available_memory_bytes() == memory.FALLBACK_MEMORY_BYTES


# ------------------------------------------------------------------------------------ the bound


@pytest.fixture
def nine_gb_free(monkeypatch):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 9 * 10**9)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if anything is encoded or decoded."""
    def refuse(*args, **kwargs):
        raise AssertionError("encoded or decoded before the memory check")

    monkeypatch.setattr(TextVAE, "encode_ids", refuse)
    monkeypatch.setattr(TextVAE, "_decode_with", refuse)


def test_a_100000000_step_interpolation_fails_at_once_in_one_line(tv, pair, nine_gb_free, no_work):
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        tv.interpolate(*pair, steps=100_000_000)
    assert time.perf_counter() - start < 1.0
    # 1e8 x (64 tokens x 8 + 100) bytes
    assert str(err.value) == (
        "interpolate with steps=100000000 needs about 61 GB of memory; this machine has 9.0 GB "
        "free; use fewer steps, or iter_interpolate, which holds one chunk at a time"
    )


@pytest.mark.parametrize(("call", "message"), [
    (lambda tv, pair: tv.sample(10**9),
     "sample(n=1000000000) needs about 612 GB of memory; this machine has 9.0 GB free; ask for "
     "fewer, or use iter_sample, which holds one chunk at a time"),
    (lambda tv, pair: tv.interpolate_prior(10**8, max_len=9, return_latents=True),
     "interpolate_prior with steps=100000000 needs about 23 GB of memory; this machine has 9.0 GB "
     "free; use fewer steps"),
    (lambda tv, pair: tv.reconstruct(list(pair), source="sample", n=10**8),
     "reconstructing 2 sentences with n=100000000 decodes each needs about 139 GB of memory; this "
     "machine has 9.0 GB free; ask for fewer decodes per sentence (n), or give fewer sentences at "
     "a time"),
])
def test_every_list_method_is_bounded_before_any_work(tv, pair, nine_gb_free, no_work, call,
                                                      message):
    with pytest.raises(InputError) as err:
        call(tv, pair)
    assert str(err.value) == message


def test_the_bound_is_the_estimate(tv, pair, monkeypatch):
    need = estimate_generation_bytes(11, latent_dim=7, max_len=9, latent_copies=2)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: need)
    assert len(tv.interpolate(*pair, steps=11, max_len=9, return_latents=True)[0]) == 11
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: need - 1)
    with pytest.raises(InputError, match="needs about 1 MB of memory; this machine has 1 MB free"):
        tv.interpolate(*pair, steps=11, max_len=9, return_latents=True)


def test_streams_need_no_bound(tv, pair, monkeypatch, decoder_calls):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 10**6)  # 1 MB free
    monkeypatch.setattr(model_module, "CHUNK", 5)
    start = time.perf_counter()
    first = list(itertools.islice(tv.iter_interpolate(*pair, steps=100_000_000), 7))
    assert time.perf_counter() - start < 1.0
    assert len(first) == 7 and decoder_calls == [5, 5]
    assert len(list(itertools.islice(tv.iter_sample(10**9, max_len=9), 3))) == 3
