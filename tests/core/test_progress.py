"""textvae.core.progress: a tqdm bar on a terminal, a line every N seconds elsewhere (a fake clock:
nothing sleeps), nothing when disabled; TEXTVAE_PROGRESS_SECONDS; and the bars of IW-NLL,
self-BLEU and streamed generation going through it."""

import io
import re

import pytest

from textvae.core import progress as progress_module
from textvae.core.errors import InputError
from textvae.core.progress import ENV_VAR, Progress, display_mode, progress_seconds, tracked


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.t, self.step = 1000.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    """The module's clock, replaced; ``clock.t`` is moved by hand."""
    fake = FakeClock()
    monkeypatch.setattr(progress_module, "now", fake)
    monkeypatch.delenv(ENV_VAR, raising=False)
    return fake


def test_lines_every_interval_with_count_rate_eta_and_figures(clock):
    out = io.StringIO()  # not a terminal
    shown = Progress(100, desc="IW-NLL K=5", unit="sent", stream=out, seconds=30)
    for _ in range(10):  # 10 s per unit: a line at 30, 60 and 90 s
        clock.t += 10
        shown.update(1)
        if shown.n == 5:
            shown.set_postfix({"loss": "45.2", "tok_s": "1234"})
    shown.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "IW-NLL K=5: 3/100 sent (3%), 0.10 sent/s, ETA 16m10s",
        "IW-NLL K=5: 6/100 sent (6%), 0.10 sent/s, ETA 15m40s, loss=45.2, tok_s=1234",
        "IW-NLL K=5: 9/100 sent (9%), 0.10 sent/s, ETA 15m10s, loss=45.2, tok_s=1234",
    ]
    assert "\r" not in out.getvalue()


def test_the_rate_counts_from_the_initial_units_and_a_line_stays_one_line(clock):
    out = io.StringIO()
    shown = Progress(1000, desc="training", unit="steps", initial=400, stream=out, seconds=1)
    shown.set_postfix({"note": "two\nlines\r"})
    clock.t += 2
    shown.update(100)
    assert out.getvalue() == ("training: 500/1000 steps (50%), 50.0 steps/s, ETA 10s, "
                              "note=two lines\n")


def test_unknown_total_and_tracked(clock):
    out = io.StringIO()
    shown = Progress(None, desc="sentences", unit="sent", stream=out, seconds=5)
    clock.t += 5
    shown.update(20)
    assert out.getvalue() == "sentences: 20 sent, 4.00 sent/s\n"


def test_tracked_yields_every_item_and_writes_lines(clock, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, "2")
    items = []
    for item in tracked(["a", "b", "c", "d"], desc="self-BLEU", unit="sent"):
        clock.t += 1
        items.append(item)
    assert items == ["a", "b", "c", "d"]
    assert capsys.readouterr().err.splitlines() == [
        "self-BLEU: 2/4 sent (50%), 1.00 sent/s, ETA 2s",
        "self-BLEU: 4/4 sent (100%), 1.00 sent/s, ETA 0s",
    ]


def test_nothing_when_disabled_on_a_terminal_or_not(clock):
    for stream in (io.StringIO(), Terminal()):
        shown = Progress(10, desc="x", stream=stream, enabled=False, seconds=1e-9)
        for _ in range(10):
            clock.t += 100
            shown.update(1)
        shown.set_postfix({"loss": "1"})
        shown.close()
        assert stream.getvalue() == ""
        assert display_mode(False, stream) == "off"


def test_a_terminal_gets_a_redrawn_tqdm_bar_not_lines(clock):
    term = Terminal()
    assert display_mode(True, term) == "bar"
    assert display_mode(True, io.StringIO()) == "lines"
    shown = Progress(10, desc="epoch 1/3", stream=term, seconds=1e-9)
    for _ in range(10):
        clock.t += 100
        shown.update(1)
    shown.close()
    text = term.getvalue()
    assert "\r" in text and "epoch 1/3" in text and "10/10" in text
    assert "it/s, ETA" not in text  # no progress lines beside the bar


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan", "30s"])
def test_a_bad_interval_is_an_error_not_ignored(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(InputError, match=ENV_VAR):
        progress_seconds()
    for stream in (io.StringIO(), Terminal()):  # whatever the mode, once progress is shown
        with pytest.raises(InputError, match="positive number"):
            Progress(3, desc="x", stream=stream)
    Progress(3, desc="x", enabled=False)  # --no-progress reads nothing


def test_the_interval_defaults_to_30_seconds_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert progress_seconds() == 30.0
    monkeypatch.setenv(ENV_VAR, "")
    assert progress_seconds() == 30.0
    monkeypatch.setenv(ENV_VAR, " 2.5 ")
    assert progress_seconds() == 2.5
    assert Progress(3, desc="x", stream=io.StringIO()).seconds == 2.5


def test_the_command_line_refuses_a_bad_interval_before_any_work(tmp_path, monkeypatch, capsys):
    from textvae.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "often")
    assert main(["train", "--config", "quickstart"]) == 2
    assert capsys.readouterr().err.startswith(f"textvae: error: {ENV_VAR}='often': give the")
    assert not (tmp_path / "runs").exists()


# The bars of the long commands, through the helper: lines, not carriage-return frames, when
# standard error is not a terminal (pytest's capture is not one).

LINE = re.compile(r"^[^\r\n]+: \d+/\d+ sent \(\d+%\), [\d.]+ sent/s, ETA \S+$")


def test_iw_nll_and_its_reference_write_lines(clock, monkeypatch, capsys):
    from tests.text.evaluate.test_iw import TOK, sentences, tiny_model
    from textvae.text.evaluate.iw import iw_nll, iw_nll_reference

    monkeypatch.setattr(progress_module, "now", FakeClock(step=1.0))
    monkeypatch.setenv(ENV_VAR, "1")
    model, ids = tiny_model(), sentences(count=6)
    iw_nll(model, ids, TOK, samples=3, batch_size=2, progress=True)
    iw_nll_reference(model, ids, TOK, samples=3, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert any(line.startswith("IW-NLL K=3: ") for line in lines)
    assert any(line.startswith("IW-NLL reference: ") for line in lines)
    assert all(LINE.match(line) for line in lines), lines


def test_self_bleu_writes_lines(monkeypatch, capsys):
    from textvae.text.evaluate.text_metrics import self_bleu

    monkeypatch.setattr(progress_module, "now", FakeClock(step=1.0))
    monkeypatch.setenv(ENV_VAR, "1")
    self_bleu([f"sentence number {i} of the set" for i in range(5)], progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith("self-BLEU: 1/5 sent (20%)")
    assert all(LINE.match(line) for line in err.splitlines())


def test_streamed_generation_writes_lines_to_stderr_only(monkeypatch, capsys):
    from textvae.cli.stream import stream_lines

    monkeypatch.setattr(progress_module, "now", FakeClock(step=1.0))
    monkeypatch.setenv(ENV_VAR, "1")
    lines = (f"sentence {i}" for i in range(10))
    assert stream_lines(lines, total=10, chunk=3, progress=True) == 0
    captured = capsys.readouterr()
    assert captured.out == "".join(f"sentence {i}\n" for i in range(10))
    assert captured.err.splitlines()[0].startswith("generating: 3/10 sent (30%)")
    assert "\r" not in captured.err
    assert stream_lines(iter(["a"] * 10), total=10, chunk=3, progress=False) == 0
    assert capsys.readouterr().err == ""
