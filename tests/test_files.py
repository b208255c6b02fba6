"""textvae.files: the one atomic writer."""

import os
import stat

import pytest
import torch

from textvae.errors import FileWriteError, TextVAEError
from textvae.files import atomic_path, write_bytes, write_json, write_text, write_with


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_writes_whole_files_with_a_normal_mode(tmp_path):
    path = write_text(tmp_path / "a.txt", "one\ntwo\n")
    assert path.read_text() == "one\ntwo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    write_json(tmp_path / "b.json", {"k": [3, 5]})
    assert (tmp_path / "b.json").read_text() == '{\n  "k": [\n    3,\n    5\n  ]\n}\n'
    write_with(tmp_path / "c.pt", lambda tmp: torch.save({"w": torch.arange(7)}, tmp))
    assert torch.equal(torch.load(tmp_path / "c.pt")["w"], torch.arange(7))
    write_bytes(tmp_path / "deep" / "d.bin", b"\x00\x07", make_parents=True)
    assert (tmp_path / "deep" / "d.bin").read_bytes() == b"\x00\x07"
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "report.json", "old")

    def broken(tmp):
        tmp.write_text("half of the new")
        raise RuntimeError("the writer died")

    with pytest.raises(RuntimeError, match="the writer died"):
        write_with(path, broken)
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_a_failed_rename_is_one_clear_error(tmp_path, monkeypatch):
    path = write_text(tmp_path / "r.txt", "old")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("textvae.files.os.replace", full_disk)
    with pytest.raises(FileWriteError, match=r"cannot write .*r.txt: No space left on device"):
        write_text(path, "new")
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_a_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(TextVAEError, match="cannot write"):
        write_text(tmp_path / "no" / "such" / "dir.txt", "x")
    with atomic_path(tmp_path / "made.txt") as tmp:
        tmp.write_text("via the context manager")
    assert (tmp_path / "made.txt").read_text() == "via the context manager"


def test_a_directory_at_the_target_is_one_error_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.mkdir()  # `evaluate --output DIR`: the final rename fails with IsADirectoryError
    with pytest.raises(FileWriteError, match=r"cannot write .*report.json: Is a directory"):
        write_json(target, {"k": 3})
    assert target.is_dir() and list(target.iterdir()) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["writing", "flushing", "renaming", "closing"])
def test_ctrl_c_at_any_moment_leaves_no_temporary(where, tmp_path, monkeypatch):
    """KeyboardInterrupt (any BaseException) removes the temporary file and passes through,
    from the moment the temporary file exists: the old file stays as it was."""
    path = write_text(tmp_path / "r.txt", "old")
    real_close = os.close

    def interrupt(*args):
        raise KeyboardInterrupt

    def close_then_interrupt(fd):
        real_close(fd)
        raise KeyboardInterrupt

    if where == "flushing":
        monkeypatch.setattr("textvae.files.fsync_file", interrupt)
    elif where == "renaming":
        monkeypatch.setattr("textvae.files.os.replace", interrupt)
    elif where == "closing":  # just after mkstemp made the file
        monkeypatch.setattr("textvae.files.os.close", close_then_interrupt)

    def writer(tmp):
        tmp.write_text("half of the new")
        if where == "writing":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(path, writer)
    monkeypatch.undo()
    assert path.read_text() == "old" and leftovers(tmp_path) == []
