"""One error style: argument errors, Ctrl-C and stray I/O errors are one line each."""

import errno
from pathlib import Path
from types import SimpleNamespace

import pytest

from textvae.cli import main


@pytest.mark.parametrize("argv, message, command", [
    (["sample", "--n", "0"], "argument --n: expected a positive integer, got 0", "textvae sample"),
    (["evaluate"], "the following arguments are required: CHECKPOINT", "textvae evaluate"),
    (["evaluate", "RUN", "--split", "dev"], "argument --split: invalid choice: 'dev'",
     "textvae evaluate"),
    (["image", "plot", "pie", "RUN", "--out", "x.png"], "argument kind: invalid choice: 'pie'",
     "textvae image plot"),
    (["data", "grammar", "--n"], "argument --n: expected one argument", "textvae data grammar"),
    (["sample", "--bogus", "1"], "unrecognized arguments: --bogus 1", "textvae sample"),
    (["image", "sample", "RUN", "--out", "x.png", "--nope"], "unrecognized arguments: --nope",
     "textvae image sample"),
    (["--bogus", "sample"], "unrecognized arguments: --bogus", "textvae"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'", "textvae"),
    ([], "the following arguments are required: COMMAND", "textvae"),
])
def test_argument_errors_are_one_line(argv, message, command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith(f"textvae: error: {message}") and err.count("\n") == 1, err
    assert err.endswith(f" (see {command} --help)\n"), err


def test_help_and_version_still_work(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sample", "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: textvae sample")


@pytest.fixture
def evaluate_run(tmp_path, monkeypatch):
    """`textvae evaluate` with a stand-in model and report: returns the argv and the folder its
    report goes to."""
    import textvae.text.evaluate.report

    monkeypatch.setattr("textvae.text.api.load", lambda *a, **k: SimpleNamespace(path=tmp_path))
    monkeypatch.setattr(textvae.text.evaluate.report, "format_report", lambda report: "table")
    out = tmp_path / "reports"
    out.mkdir()
    return ["evaluate", str(tmp_path), "--output", str(out / "eval.json")], out


def _report(*args, **kwargs):
    return {"timing": {}, "settings": {"sentences": 5, "split_sentences": 5}}


def test_ctrl_c_during_an_evaluation_is_one_line_and_exit_130(evaluate_run, capsys, monkeypatch):
    import textvae.text.evaluate.report

    argv, out = evaluate_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(textvae.text.evaluate.report, "evaluate_split", interrupted)
    assert main(argv) == 130
    # One line for the interruption (a busy machine adds a note on the threads before it).
    err = capsys.readouterr().err
    assert err.endswith("\ntextvae: interrupted\n") or err == "textvae: interrupted\n"
    assert "Traceback" not in err
    assert list(out.iterdir()) == []
    with pytest.raises(KeyboardInterrupt):  # --debug shows where
        main(["--debug", *argv])


def test_ctrl_c_while_the_report_is_written_leaves_no_temporary(evaluate_run, capsys, monkeypatch):
    import textvae.core.files
    import textvae.text.evaluate.report

    argv, out = evaluate_run
    monkeypatch.setattr(textvae.text.evaluate.report, "evaluate_split", _report)
    written = []

    def interrupted(path):
        written.append(Path(path).read_text())  # the temporary file holds the report
        raise KeyboardInterrupt

    monkeypatch.setattr(textvae.core.files, "fsync_file", interrupted)
    assert main(argv) == 130
    assert capsys.readouterr().err == "textvae: interrupted\n"
    assert '"split_sentences": 5' in written[0]
    assert list(out.iterdir()) == []  # neither the report nor its temporary file


def test_ctrl_c_in_any_command(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("textvae.text.api.load", interrupted)
    assert main(["sample", "-c", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "textvae: interrupted\n"


@pytest.mark.parametrize("error, message", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/out.json"),
     "cannot write /data/out.json: No space left on device"),
    (OSError(errno.EACCES, "Permission denied", "/data/in.txt"),
     "cannot read or write /data/in.txt: Permission denied"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "/tmp/a", None, "/data/b"),
     "cannot read or write /data/b: Invalid cross-device link"),  # a rename: its target
    (OSError(errno.EIO, "Input/output error"), "I/O error: Input/output error"),
])
def test_an_io_error_no_command_caught_is_one_line(error, message, evaluate_run, capsys,
                                                   monkeypatch):
    import textvae.text.evaluate.report

    argv, out = evaluate_run

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(textvae.text.evaluate.report, "evaluate_split", fails)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"textvae: error: {message}\n"
    with pytest.raises(OSError):
        main(["--debug", *argv])


def test_a_reader_that_goes_away_ends_any_command_quietly_with_141(monkeypatch, capsys):
    import io

    class GoneReader(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise io.UnsupportedOperation("no descriptor")

    monkeypatch.setattr("sys.stdout", GoneReader())
    assert main(["config", "--list"]) == 141
    assert capsys.readouterr().err == ""
