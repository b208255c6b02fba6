"""What is at an output path decides how a command writes it (issue 34): a link is written
through, a device or a pipe is written into and never replaced, ``-`` is standard output (and
then the command's own messages go to standard error), and an output the kernel would refuse is
refused in the first second by trying, not by asking ``os.access``.
"""

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from textvae.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny import train_tiny  # noqa: E402

QUICK = ["--iw-samples", "3", "--sentences", "5", "--diversity-samples", "3", "--no-quality",
         "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    return train_tiny(tmp_path_factory.mktemp("targets") / "run", "train.max_steps=3",
                      "train.threads=1")


def _evaluate(run, output) -> list[str]:
    return ["evaluate", str(run), *QUICK, "--output", str(output)]


def _one_line(capsys, code: int) -> str:
    """The error line of a failed command: one, the last (notes on the work may come first)."""
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("textvae: error: ")]
    assert code == 2 and errors == lines[-1:] and "Traceback" not in lines, lines
    return errors[0]


def test_evaluate_writes_through_a_link(run, tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("old\n")
    (tmp_path / "link.json").symlink_to("target.json")
    assert main(_evaluate(run, tmp_path / "link.json")) == 0
    assert "report written to" in capsys.readouterr().out
    assert (tmp_path / "link.json").is_symlink()
    assert json.loads(target.read_text())["settings"]["split"] == "test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "target.json"]


def test_evaluate_to_dash_prints_only_the_json(run, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(_evaluate(run, "-")) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # nothing but the report
    assert report["settings"]["sentences"] == 5
    assert "likelihood" in captured.err and "report written to standard output" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_evaluate_into_a_full_device_is_one_line_and_keeps_the_device(run, tmp_path, capsys):
    full = tmp_path / "full"
    try:  # a private /dev/full: a broken writer replaces this one, not the machine's
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        os.close(os.open(full, os.O_WRONLY))
    except OSError:
        full.unlink(missing_ok=True)
        full = Path("/dev/full")
        if not full.exists():
            pytest.skip("no /dev/full here")
    line = _one_line(capsys, main(_evaluate(run, full)))
    assert line == f"textvae: error: cannot write {full}: No space left on device"
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_evaluate_into_a_fifo_reaches_a_reader_that_waits(run, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def read():
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.1)  # the reader waits in open() before the command checks its output
    assert main(_evaluate(run, fifo)) == 0
    reader.join(timeout=31)
    assert json.loads(got[0])["settings"]["sentences"] == 5
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("output, reason", [
    ("/proc/nonexistent/x.json", "its directory /proc/nonexistent cannot be created: /proc is "
                                 "not writable ("),
    ("{tmp}/sock", "it is a socket"),
    ("{tmp}/loop", "Too many levels of symbolic links"),
])
def test_what_the_kernel_would_refuse_is_refused_before_loading(output, reason, tmp_path,
                                                                 capsys, monkeypatch):
    """As root, os.access says yes to /proc; trying says no, in no time, before the model."""
    import socket

    monkeypatch.setattr("textvae.text.api.load", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "loop").symlink_to("loop")
    output = output.format(tmp=tmp_path)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock"))
        start = time.monotonic()
        line = _one_line(capsys, main(["evaluate", str(tmp_path), "--output", output]))
    assert time.monotonic() - start < 5
    assert line.startswith(f"textvae: error: cannot write --output {output}: {reason}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop", "sock"]


# ------------------------------------------------------------------------------ `-` everywhere


def _fake(monkeypatch, target: str, value) -> None:
    monkeypatch.setattr(target, lambda *args, **kwargs: value)


REPORT = {"figure": 3.25, "rows": [5, 7]}


@pytest.mark.parametrize("command", ["quality", "bench", "image evaluate"])
def test_dash_gives_standard_output_only_the_json(command, tmp_path, capsys, monkeypatch):
    """The report's computation is faked: what is checked is where each line goes."""
    monkeypatch.chdir(tmp_path)
    if command == "quality":
        _fake(monkeypatch, "textvae.text.api.load", object())
        _fake(monkeypatch, "textvae.text.evaluate.grammar_quality.grammar_quality_report", REPORT)
        _fake(monkeypatch, "textvae.text.evaluate.grammar_quality.format_quality_report", "THE TABLE")
        _fake(monkeypatch, "textvae.cli.generate.use_free_cores", None)
        argv = ["quality", "-c", str(tmp_path), "--out", "-"]
    elif command == "bench":
        _fake(monkeypatch, "textvae.text.evaluate.bench.run_benchmark", REPORT)
        _fake(monkeypatch, "textvae.text.evaluate.bench.format_table", "THE TABLE")
        argv = ["bench", "--json", "-"]
    else:
        _fake(monkeypatch, "textvae.cli.image._run_kind", "image")
        _fake(monkeypatch, "textvae.image.use.report.evaluate_run", REPORT)
        argv = ["image", "evaluate", str(tmp_path), "--out", "-"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == REPORT  # once, and nothing else
    assert ("THE TABLE" in captured.err) == (command != "image evaluate")
    assert list(tmp_path.iterdir()) == []


def test_encode_to_dash_is_json_lines_on_standard_output(run, capsys):
    assert main(["encode", "-c", str(run), "--device", "cpu", "the dog barked .", "--out", "-"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["sentence"] for row in rows] == ["the dog barked ."] and len(rows[0]["mu"]) == 7


def test_a_picture_to_dash_is_the_png_on_standard_output(tmp_path, capsysbinary):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "split": "train", "neg_elbo": 50.0 - s})
                               + "\n" for s in range(1, 8)))
    assert main(["image", "plot", "curves", str(metrics), "--out", "-"]) == 0
    captured = capsysbinary.readouterr()
    assert captured.out.startswith(b"\x89PNG\r\n") and captured.err == b"wrote -\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
