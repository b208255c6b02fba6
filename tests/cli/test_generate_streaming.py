"""`textvae sample` and `textvae interpolate` write as they decode; requests that must be held
whole are refused up front."""

import io
import json
import sys
import time

import pytest
from tiny import train_tiny

import textvae.text.api.memory as memory
import textvae.text.api.model as model_module
from textvae.cli import main
from textvae.text.api import TextVAE, load

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_thread):
    return train_tiny(tmp_path_factory.mktemp("stream-cli") / "run", "train.batch_size=32", "train.max_steps=3")


@pytest.fixture
def pair(run_dir):
    words = [w for w in load(run_dir, device="cpu").tokenizer.tokens[4:] if w.isalpha()]
    return " ".join(words[:3]), " ".join(words[3:7])


class Recorder(io.StringIO):
    """A stdout that notes, in ``events``, how many lines it held at each flush."""

    def __init__(self, events):
        super().__init__()
        self.events = events

    def flush(self):
        self.events.append(("flush", self.getvalue().count("\n")))


def _record(monkeypatch):
    """Decoder calls and stdout flushes, in order; each notes the lines written so far. (Called
    in the test itself: pytest sets its own stdout after the fixtures.)"""
    log = []
    stdout = Recorder(log)
    monkeypatch.setattr(sys, "stdout", stdout)
    real = TextVAE._decode_with

    def spy(self, z, rows, generator, options):
        log.append(("decode", stdout.getvalue().count("\n")))
        return real(self, z, rows, generator, options)

    monkeypatch.setattr(TextVAE, "_decode_with", spy)
    return log


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_sample_writes_each_chunk_before_decoding_the_next(run_dir, monkeypatch, fmt):
    monkeypatch.setattr(model_module, "CHUNK", 4)
    texts, z = load(run_dir, device="cpu").sample(11, seed=3, max_len=9, return_latents=True)
    events = _record(monkeypatch)
    argv = ["sample", "-c", str(run_dir), "--n", "11", "--max-len", "9", "--seed", "3"]
    assert main([*argv, "--format", fmt]) == 0
    assert events == [("decode", 0), ("flush", 4), ("decode", 4), ("flush", 8), ("decode", 8),
                      ("flush", 11)]
    out = sys.stdout.getvalue()  # the same as the one-shot call's
    if fmt == "text":
        assert out == "".join(t + "\n" for t in texts)
    else:
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["index"] for r in rows] == list(range(11))
        assert [r["text"] for r in rows] == texts
        assert [r["z"] for r in rows] == z.tolist()
        assert rows[0]["settings"]["prior"] == "standard" and rows[0]["settings"]["seed"] == 3


def test_a_100000000_step_interpolation_streams(run_dir, pair, monkeypatch):
    class Enough(Exception):
        pass

    events = _record(monkeypatch)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 10**6)  # 1 MB free
    monkeypatch.setattr(model_module, "CHUNK", 5)
    real = TextVAE._decode_with  # the spy of _record

    def stop_at_the_third_chunk(self, *args):
        if sum(kind == "decode" for kind, _ in events) == 2:
            raise Enough
        return real(self, *args)

    monkeypatch.setattr(TextVAE, "_decode_with", stop_at_the_third_chunk)
    start = time.perf_counter()
    with pytest.raises(Enough):
        main(["interpolate", "-c", str(run_dir), *pair, "--steps", "100000000", "--format", "jsonl"])
    assert time.perf_counter() - start < 5.0
    assert events == [("decode", 0), ("flush", 5), ("decode", 5), ("flush", 10)]
    rows = [json.loads(line) for line in sys.stdout.getvalue().splitlines()]
    assert [r["step"] for r in rows] == list(range(10)) and rows[1]["t"] == 1 / 99_999_999


def test_interpolate_prints_what_the_library_returns(run_dir, pair, monkeypatch, capsys):
    monkeypatch.setattr(model_module, "CHUNK", 3)
    argv = ["interpolate", "-c", str(run_dir), *pair, "--steps", "8", "--path", "slerp"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == load(run_dir, device="cpu").interpolate(
        *pair, steps=8, path="slerp")


def test_reconstruct_too_many_decodes_is_one_line_before_any_work(run_dir, pair, monkeypatch,
                                                                  capsys):
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 2 * 10**9)

    def refuse(*args, **kwargs):
        raise AssertionError("encoded or decoded before the memory check")

    monkeypatch.setattr(TextVAE, "encode_ids", refuse)
    monkeypatch.setattr(TextVAE, "_decode_with", refuse)
    start = time.perf_counter()
    argv = ["reconstruct", "-c", str(run_dir), pair[0], "--source", "sample", "--n", "100000000"]
    assert main(argv) == 2
    assert time.perf_counter() - start < 1.0
    out, err = capsys.readouterr()
    assert out == ""
    # 1e8 x (3 codes x 7 x 4 + 64 tokens x 8 + 100) bytes
    assert err == (
        "textvae: error: reconstructing 1 sentence with n=100000000 decodes each needs about "
        "70 GB of memory; this machine has 2.0 GB free; ask for fewer decodes per sentence (n), "
        "or give fewer sentences at a time\n"
    )


@pytest.mark.parametrize(("tty", "flags", "n", "bar"), [
    (True, [], 11, True),
    (False, [], 11, False),
    (True, ["--no-progress"], 11, False),
    (True, [], 4, False),  # one chunk: nothing to follow
])
def test_a_progress_bar_only_on_a_terminal(run_dir, monkeypatch, capsys, tty, flags, n, bar):
    monkeypatch.setattr(model_module, "CHUNK", 4)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert main(["sample", "-c", str(run_dir), "--n", str(n), "--max-len", "9", *flags]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == n  # the bar never reaches stdout
    assert ("11/11" in err) is bar
    if not bar:
        assert err == ""


def test_a_closed_pipe_ends_the_work_quietly(run_dir, monkeypatch, capsys):
    class ClosedAfterOneChunk(io.StringIO):
        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(model_module, "CHUNK", 4)
    monkeypatch.setattr(sys, "stdout", ClosedAfterOneChunk())
    calls = []
    real = TextVAE._decode_with
    monkeypatch.setattr(TextVAE, "_decode_with",
                        lambda self, *args: calls.append(1) or real(self, *args))
    assert main(["sample", "-c", str(run_dir), "--n", "40", "--max-len", "9"]) == 141
    assert len(calls) == 1  # no chunk decoded after the reader left
    assert capsys.readouterr().err == ""
