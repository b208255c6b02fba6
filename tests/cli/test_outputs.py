"""Every writing command checks its output before its work: one line, exit 2, nothing computed.

The heavy function of each command (loading, training, evaluating, plotting) is replaced by one
that fails loudly with ``the work started``; a refused output must never reach it, and an
output the writer may create must.
"""

import errno
import os
from pathlib import Path

import pytest

from textvae.cli import main
from textvae.cli.common import UsageError, check_output_file, check_output_folder
from textvae.core.errors import FileWriteError, TextVAEError
from textvae.core.files import output_problem

STARTED = "the work started"


class Started(TextVAEError):
    pass


def _started(*args, **kwargs):
    raise Started(STARTED)


# name: (argv for an output path and an existing run, output kind, file name, heavy function)
# kind: "file" (its directory must exist), "file+parents" (the writer makes it), "folder".
COMMANDS = {
    "train": (lambda out, run: ["train", "--config", "quickstart", "--set", f"train.out_dir={out}"],
              "folder", "run", "textvae.text.training.train.train"),
    "image train": (lambda out, run: ["image", "train", "--set", f"train.out_dir={out}"],
                    "folder", "run", "textvae.image.training.train.train_image"),
    "evaluate": (lambda out, run: ["evaluate", run, "--output", out],
                 "file+parents", "eval.json", "textvae.text.api.load"),
    "quality": (lambda out, run: ["quality", "-c", run, "--out", out],
                "file", "quality.json", "textvae.text.api.load"),
    "bench": (lambda out, run: ["bench", "--json", out],
              "file", "bench.json", "textvae.text.evaluate.bench.run_benchmark"),
    "encode": (lambda out, run: ["encode", "-c", run, "the dog .", "--out", out],
               "file", "codes.jsonl", "textvae.text.api.load"),
    "encode npy": (lambda out, run: ["encode", "-c", run, "the dog .", "--out", out],
                   "file", "codes.npy", "textvae.text.api.load"),
    "plot": (lambda out, run: ["plot", run, "--out", out],
             "folder", "plots", "textvae.text.viz.run.plot_run"),
    "report": (lambda out, run: ["report", run, "--out", out],
               "file", "report.html", "textvae.text.viz.page.write_report"),
    "export": (lambda out, run: ["export", run, "--out", out],
               "folder", "shared", "textvae.text.api.load"),
    "image evaluate": (lambda out, run: ["image", "evaluate", run, "--out", out],
                       "file", "eval.json", "textvae.image.use.report.evaluate_run"),
    "image plot": (lambda out, run: ["image", "plot", "samples", run, "--out", out],
                   "file+parents", "samples.png", "textvae.image.training.train.load_image_model"),
    "image sample": (lambda out, run: ["image", "sample", run, "--out", out],
                     "file+parents", "samples.png", "textvae.image.training.train.load_image_model"),
    "data grammar": (lambda out, run: ["data", "grammar", "--n", "31", "--out", out],
                     "folder", "grammar", "textvae.text.data.grammar.write_corpus"),
}


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder the kernel refuses new entries in (EACCES on creating a file or a folder there),
    as a read-only mount or an ACL refuses even root; chmod cannot make one for root, and tests
    run as root here. ``os.access`` agrees, as it would for a user without permission. The real
    thing: ``test_a_real_read_only_folder`` and, as an ordinary user,
    ``tests/core/test_files.py::test_as_an_ordinary_user``."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open, real_mkdir, real_access = os.open, os.mkdir, os.access

    def inside(path) -> bool:
        return Path(os.fsdecode(path)).absolute().parent == folder

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and inside(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() == folder.resolve():
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "access", access)
    return folder


def _run(capsys, monkeypatch, tmp_path, name, out):
    make_argv, _, _, heavy = COMMANDS[name]
    module, attr = heavy.rsplit(".", 1)
    monkeypatch.setattr(f"{module}.{attr}", _started)
    run = tmp_path / "some-run"
    run.mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)
    code = main(make_argv(str(out), str(run)))
    err = capsys.readouterr().err
    # a busy machine's note on threads (cli.common.use_free_cores) is not part of the error
    err = "".join(line for line in err.splitlines(True) if not line.startswith("threads: "))
    assert code == 2 and err.startswith("textvae: error: ") and err.count("\n") == 1, err
    return err


def _refused(capsys, monkeypatch, tmp_path, name, out, flag_and_reason):
    err = _run(capsys, monkeypatch, tmp_path, name, out)
    assert STARTED not in err, f"{name}: the work started before the output was checked"
    assert "cannot write " in err and flag_and_reason in err, err
    return err


@pytest.mark.parametrize("name", COMMANDS)
def test_the_wrong_kind_of_path_is_refused_first(name, tmp_path, capsys, monkeypatch):
    _, kind, filename, _ = COMMANDS[name]
    out = tmp_path / filename
    if kind == "folder":  # a file where a folder is wanted
        out.write_text("mine\n")
        _refused(capsys, monkeypatch, tmp_path, name, out, f"{out}: it is a file, not a folder")
        assert out.read_text() == "mine\n"
    else:  # a directory where a file is wanted
        out.mkdir()
        _refused(capsys, monkeypatch, tmp_path, name, out, f"{out}: it is a directory")
        assert list(out.iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file


@pytest.mark.parametrize("name", COMMANDS)
def test_a_read_only_folder_is_refused_first(name, tmp_path, capsys, monkeypatch, read_only):
    _, kind, filename, _ = COMMANDS[name]
    out = read_only / filename
    if kind == "folder":
        _refused(capsys, monkeypatch, tmp_path, name, out,
                 f"{out}: it cannot be created: {read_only} is not writable")
    else:
        _refused(capsys, monkeypatch, tmp_path, name, out,
                 f"{out}: its directory {read_only} is not writable")
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("name", COMMANDS)
def test_a_directory_that_cannot_be_created_is_refused_first(name, tmp_path, capsys, monkeypatch):
    _, _, filename, _ = COMMANDS[name]
    blocker = tmp_path / "a-file"
    blocker.write_text("mine\n")
    out = blocker / "sub" / filename
    _refused(capsys, monkeypatch, tmp_path, name, out, f"{out}: {blocker} is a file, not a folder")


@pytest.mark.parametrize("name", COMMANDS)
def test_a_missing_directory_is_made_by_the_writer_or_refused(name, tmp_path, capsys, monkeypatch):
    _, kind, filename, _ = COMMANDS[name]
    out = tmp_path / "new" / "deeper" / filename
    if kind == "file":  # its writer does not make folders: say so now, not after the work
        _refused(capsys, monkeypatch, tmp_path, name, out, f"{out}: its directory does not exist")
    else:  # the writer makes them: the check passes, and makes nothing itself
        assert STARTED in _run(capsys, monkeypatch, tmp_path, name, out)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("argv, what", [
    (["evaluate", "CKPT"], "the report into the checkpoint"),
    (["fit-prior", "-c", "CKPT"], "the aggregate prior into the checkpoint"),
])
def test_writing_into_a_read_only_checkpoint_is_refused_first(argv, what, tmp_path, capsys,
                                                              monkeypatch, read_only):
    (read_only / "meta.json").write_text("{}")  # a checkpoint directory: it names itself
    monkeypatch.setattr("textvae.text.api.load", _started)
    assert main([str(read_only) if a == "CKPT" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert err == (f"textvae: error: cannot write {what} {read_only}: it is not writable "
                   "(Permission denied)\n")


def test_evaluate_to_an_unwritable_output_never_evaluates(tmp_path, capsys, monkeypatch):
    """Refused in no time: neither the model nor the evaluation is touched."""
    import textvae.text.evaluate.report

    def evaluate(*args, **kwargs):
        pytest.fail("the evaluation ran")

    monkeypatch.setattr(textvae.text.evaluate.report, "evaluate_split", evaluate)
    monkeypatch.setattr("textvae.text.api.load", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(["evaluate", str(tmp_path), "--output", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"textvae: error: cannot write --output {tmp_path}: it is a directory\n")


def test_training_into_a_file_never_reads_the_corpus(tmp_path, capsys, monkeypatch):
    """Through the real trainer (text and image), a file as train.out_dir is one line, exit 2
    (it was a FileExistsError traceback, exit 1), before the corpus is read."""
    import textvae.image.run.data
    import textvae.text.run.corpus

    monkeypatch.setattr(textvae.text.run.corpus, "build_corpus", _started)
    monkeypatch.setattr(textvae.image.run.data, "load_image_splits", _started)
    blocker = tmp_path / "a-file"
    blocker.write_text("mine\n")
    for argv in (["train", "--config", "quickstart"], ["image", "train"]):
        assert main([*argv, "--set", f"train.out_dir={blocker}"]) == 2
        assert capsys.readouterr().err == (
            f"textvae: error: cannot write train.out_dir {blocker}: it is a file, not a folder\n")
    assert blocker.read_text() == "mine\n"


@pytest.mark.parametrize("kind", ["text", "image"])
def test_the_library_refuses_a_run_directory_it_cannot_make(kind, tmp_path, monkeypatch):
    """train() and train_image() raise a TextVAEError, not an OSError, before reading data."""
    if kind == "text":
        import textvae.text.run.corpus
        from textvae.text.run.config import load_config
        from textvae.text.training.train import train as run

        monkeypatch.setattr(textvae.text.run.corpus, "build_corpus", _started)
        load = load_config
    else:
        import textvae.image.run.data
        from textvae.image.run.config import load_image_config as load
        from textvae.image.training.train import train_image as run

        monkeypatch.setattr(textvae.image.run.data, "load_image_splits", _started)
    blocker = tmp_path / "a-file"
    blocker.write_text("mine\n")
    for out in (blocker, blocker / "run"):
        with pytest.raises(FileWriteError, match=r"^cannot write train.out_dir .*: (it|.*a-file) "
                                                 "is a file, not a folder$"):
            run(load(None, [f"train.out_dir={out}"]), log=lambda m: None)


# ------------------------------------------------------------------------------ the check itself


def test_output_problem_names_what_is_wrong(tmp_path, read_only):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    cases = [
        (tmp_path / "d", {}, "it is a directory"),
        (tmp_path / "f", {"folder": True}, "it is a file, not a folder"),
        (tmp_path / "f" / "x.json", {}, f"{tmp_path / 'f'} is a file, not a folder"),
        (tmp_path / "f" / "a" / "b", {"folder": True}, f"{tmp_path / 'f'} is a file, not a folder"),
        (tmp_path / "no" / "x.json", {}, "its directory does not exist"),
        (read_only / "x.json", {}, f"its directory {read_only} is not writable (Permission denied)"),
        (read_only, {"folder": True}, "it is not writable (Permission denied)"),
        (read_only / "a" / "b", {"folder": True},
         f"it cannot be created: {read_only} is not writable (Permission denied)"),
        (read_only / "a" / "x.json", {"make_parents": True},
         f"its directory {read_only / 'a'} cannot be created: {read_only} is not writable "
         "(Permission denied)"),
    ]
    for path, options, problem in cases:
        assert output_problem(path, **options) == problem, (path, options)
    for path, options in [
        (tmp_path / "f", {}),  # an existing file is replaced
        (tmp_path / "new.json", {}),
        (tmp_path / "no" / "x.json", {"make_parents": True}),
        (tmp_path / "d", {"folder": True}),
        (tmp_path / "no" / "run", {"folder": True}),
        ("relative.json", {}),
    ]:
        assert output_problem(path, **options) is None, (path, options)
    assert not (tmp_path / "no").exists()  # checking makes nothing


def test_the_cli_checks_raise_one_usage_error(tmp_path):
    check_output_file(None, "--out")  # no output asked for
    check_output_folder(None, "--out")
    with pytest.raises(UsageError, match=rf"^cannot write --json {tmp_path}: it is a directory$"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(UsageError, match="^cannot write --out .*: its directory does not exist$"):
        check_output_file(tmp_path / "no" / "x.json", "--out")
    check_output_file(tmp_path / "no" / "x.json", "--out", make_parents=True)


def test_a_real_read_only_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.geteuid() == 0:
            pytest.skip("chmod 0o555 does not stop root from writing; the read_only fixture "
                        "and tests/core/test_files.py::test_as_an_ordinary_user test the same check")
        assert output_problem(folder / "x.json") == (
            f"its directory {folder} is not writable (Permission denied)")
        assert output_problem(folder, folder=True) == "it is not writable (Permission denied)"
    finally:
        folder.chmod(0o755)
