"""textvae.core.files: the one atomic writer."""

import json
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from textvae.core.errors import FileWriteError, TextVAEError
from textvae.core.files import (
    atomic_path,
    output_problem,
    write_bytes,
    write_json,
    write_text,
    write_with,
    writes_to_stdout,
)


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

    monkeypatch.setattr("textvae.core.files.os.replace", full_disk)
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
        monkeypatch.setattr("textvae.core.files.fsync_file", interrupt)
    elif where == "renaming":
        monkeypatch.setattr("textvae.core.files.os.replace", interrupt)
    elif where == "closing":  # just after mkstemp made the file
        monkeypatch.setattr("textvae.core.files.os.close", close_then_interrupt)

    def writer(tmp):
        tmp.write_text("half of the new")
        if where == "writing":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(path, writer)
    monkeypatch.undo()
    assert path.read_text() == "old" and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ what is at the path


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    """The final target is replaced in its own directory; the link (in another) stays a link."""
    links, targets = tmp_path / "links", tmp_path / "targets"
    links.mkdir()
    targets.mkdir()
    target = write_text(targets / "target.json", "old")
    (links / "link.json").symlink_to(target)
    write_json(links / "link.json", {"k": 5})
    assert (links / "link.json").is_symlink() and os.readlink(links / "link.json") == str(target)
    assert target.read_text() == '{\n  "k": 5\n}\n'
    assert leftovers(links) == [] and leftovers(targets) == []


def test_a_chain_of_relative_and_absolute_links_reaches_the_last_target(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    final = write_text(tmp_path / "b" / "final.txt", "old")
    (tmp_path / "b" / "two").symlink_to("final.txt")  # relative to its own folder
    (tmp_path / "a" / "one").symlink_to("../b/two")
    (tmp_path / "start").symlink_to(tmp_path / "a" / "one")  # absolute
    write_text(tmp_path / "start", "new, 13 bytes")
    assert final.read_text() == "new, 13 bytes"
    assert [p.is_symlink() for p in (tmp_path / "start", tmp_path / "a" / "one",
                                     tmp_path / "b" / "two")] == [True, True, True]
    assert leftovers(tmp_path / "b") == [] and leftovers(tmp_path / "a") == []


def test_a_dangling_symlink_gets_its_target(tmp_path):
    (tmp_path / "link.txt").symlink_to("later/made.txt")
    assert output_problem(tmp_path / "link.txt") == "its directory does not exist"
    with pytest.raises(FileWriteError, match="No such file or directory"):
        write_text(tmp_path / "link.txt", "x")  # the writer does not make folders: no file
    assert output_problem(tmp_path / "link.txt", make_parents=True) is None
    assert not (tmp_path / "later").exists()  # the check made the folder and removed it
    write_text(tmp_path / "link.txt", "seven 7", make_parents=True)
    assert (tmp_path / "later" / "made.txt").read_text() == "seven 7"
    assert (tmp_path / "link.txt").is_symlink()


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert output_problem(tmp_path / "a") == "Too many levels of symbolic links"
    with pytest.raises(FileWriteError, match=r"^cannot write .*a: Too many levels of symbolic "
                                             r"links$"):
        write_text(tmp_path / "a", "x")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def _is_char_device(path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


@pytest.fixture
def device(tmp_path):
    """``device("null")``: a private node of /dev/null (or /dev/full), so that a broken writer
    replaces the test's copy, not the machine's; the machine's where nodes cannot be made."""
    numbers = {"null": (1, 3), "full": (1, 7)}

    def make(name: str) -> Path:
        path = tmp_path / name
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(*numbers[name]))
            os.close(os.open(path, os.O_WRONLY))  # a device cgroup may forbid using it
        except OSError:
            path.unlink(missing_ok=True)
            path = Path(f"/dev/{name}")
            if not path.exists():
                pytest.skip(f"no /dev/{name} on this system")
        return path

    return make


def test_dev_null_is_written_not_replaced(device):
    null = device("null")
    assert output_problem(null) is None
    write_json(null, {"k": 3})
    write_with(null, lambda tmp: torch.save({"w": torch.arange(5)}, tmp))
    assert _is_char_device(null) and leftovers(null.parent) == []


def test_dev_full_is_the_one_line_disk_full_error(device, monkeypatch):
    full = device("full")
    assert output_problem(full) is None  # it opens; only writing tells
    with pytest.raises(FileWriteError, match=rf"^cannot write {full}: No space left on device$"):
        write_json(full, {"k": 3})
    made = []  # the writer's temporary file (in the system's temporary folder): removed
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp",
                        lambda *a, **k: made.append(real_mkstemp(*a, **k)) or made[-1])
    with pytest.raises(FileWriteError, match=rf"^cannot write {full}: No space left on device$"):
        write_with(full, lambda tmp: tmp.write_bytes(b"\x07" * 9))
    assert made and not any(os.path.exists(name) for _, name in made)
    assert _is_char_device(full) and leftovers(full.parent) == []


def _reader(fifo, got, started=None):
    def read():
        if started is not None:
            started.set()
        with open(fifo, "rb") as fh:  # blocks until a writer opens it
            got.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_fifo_is_written_to_its_reader(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert output_problem(fifo) is None  # no reader yet: fine, the write waits for one
    got: list[bytes] = []
    thread = _reader(fifo, got)
    write_json(fifo, {"k": [3, 5]})
    thread.join(timeout=11)
    assert got == [b'{\n  "k": [\n    3,\n    5\n  ]\n}\n']
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and leftovers(tmp_path) == []


def test_checking_a_fifo_does_not_end_a_waiting_reader(tmp_path):
    """The check opens the FIFO for writing; closing it again would give a reader already
    waiting (`cat fifo`) an empty read, and the real write would then wait for ever."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    started = threading.Event()
    thread = _reader(fifo, got, started)
    started.wait(timeout=11)
    deadline = time.monotonic() + 11
    while not _check_found_the_reader(fifo):  # until the reader is there to be found
        assert output_problem(fifo) is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)  # the work between the check and the write
    assert got == []  # the reader has not seen an end yet
    write_text(fifo, "the report, 23 bytes\n")
    thread.join(timeout=11)
    assert got == [b"the report, 23 bytes\n"]


def _check_found_the_reader(fifo) -> bool:
    # the check holds the FIFO open once it found a reader (before, it got ENXIO: no reader)
    import textvae.core.files

    st = os.stat(fifo)
    return (st.st_dev, st.st_ino) in textvae.core.files._HELD


def test_a_socket_is_refused(tmp_path):
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert output_problem(path).startswith("it is a socket")
        with pytest.raises(FileWriteError, match="it is a socket"):
            write_text(path, "x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_dash_is_standard_output(capsysbinary, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert output_problem("-") is None and writes_to_stdout("-")
    write_json("-", {"k": 7})
    write_with("-", lambda tmp: tmp.write_bytes(b"\x89PNG 9 bytes"))  # a picture's bytes too
    assert capsysbinary.readouterr().out == b'{\n  "k": 7\n}\n\x89PNG 9 bytes'
    assert list(tmp_path.iterdir()) == []  # no file named -
    assert not writes_to_stdout(tmp_path / "x.json")


def test_dev_stdout_writes_this_process_descriptor(capfd):
    assert writes_to_stdout("/dev/stdout") and output_problem("/dev/stdout") is None
    write_text("/dev/stdout", "through fd 1, 19 b\n")
    assert capfd.readouterr().out == "through fd 1, 19 b\n"
    assert os.path.islink("/dev/stdout")
    assert output_problem("/dev/fd/0") in (None, "descriptor 0 is open only for reading")
    assert output_problem("/dev/fd/987") == "descriptor 987 is not open"


# ------------------------------------------------------------------------------ the probe


def test_a_missing_folder_under_proc_is_refused_by_trying():
    """access(2) tells root that /proc is writable; making a folder there says otherwise."""
    problem = output_problem("/proc/nonexistent/x.json", make_parents=True)
    assert problem is not None and problem.startswith(
        "its directory /proc/nonexistent cannot be created: /proc is not writable (")


def test_the_probe_decides_not_os_access(tmp_path, monkeypatch):
    """os.access is only a hint: a folder it calls read-only but that takes files passes; one
    it calls writable but that refuses files is refused, and the message says that the
    permissions looked fine."""
    free, refusing = tmp_path / "free", tmp_path / "refusing"
    free.mkdir()
    refusing.mkdir()
    real_access, real_open = os.access, os.open

    def access(path, mode, *args, **kwargs):
        return Path(path) != free and real_access(path, mode, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == refusing:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", open_)
    assert output_problem(free / "x.json") is None
    assert output_problem(refusing / "x.json") == (
        f"its directory {refusing} is not writable (Permission denied, though its permissions "
        "allow writing)")
    monkeypatch.undo()
    assert list(free.iterdir()) == [] and list(refusing.iterdir()) == []  # no probe left


def test_checking_leaves_no_probe_and_no_folder(tmp_path, monkeypatch):
    made = []
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp",
                        lambda *a, **k: made.append(real_mkstemp(*a, **k)) or made[-1])
    assert output_problem(tmp_path / "x.json") is None
    assert output_problem(tmp_path / "a" / "b" / "x.json", make_parents=True) is None
    assert output_problem(tmp_path / "run" / "deep", folder=True) is None
    assert len(made) == 3  # it did try, in each place
    assert list(tmp_path.iterdir()) == []


def _as_nobody(checks):
    """Run ``checks()`` in a child process that dropped root for `nobody` (uid 65534) and
    return what it returned (JSON): the modules are imported already, so the child needs no
    read access to the interpreter's files."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, json.dumps(checks()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and data, "the child running as nobody failed"
    return json.loads(data)


@pytest.mark.skipif(not hasattr(os, "fork") or os.geteuid() != 0,
                    reason="needs root to become an ordinary user (as one, the other tests are "
                           "the ordinary user's already)")
def test_as_an_ordinary_user():
    """The real permission checks, which root never meets: a folder without write permission
    is refused by the probe, a write into it is one line and leaves nothing, and links and
    devices behave as for root."""
    top = Path(tempfile.mkdtemp(prefix="textvae-nobody-", dir="/tmp"))  # pytest's is root's 0700
    try:
        top.chmod(0o755)
        locked, free = top / "locked", top / "free"
        locked.mkdir(mode=0o755)
        free.mkdir()
        free.chmod(0o777)
        (free / "target.json").write_text("old")
        (free / "target.json").chmod(0o666)
        os.symlink("target.json", free / "link.json")

        def checks():
            results = {"uid": os.getuid(),
                       "locked": output_problem(locked / "x.json"),
                       "locked folder": output_problem(locked / "sub", folder=True),
                       "free": output_problem(free / "x.json"),
                       "null": output_problem("/dev/null")}
            try:
                write_text(locked / "x.json", "x")
            except FileWriteError as err:
                results["write"] = str(err)
            write_text(free / "link.json", "new 7")
            results["through the link"] = (free / "target.json").read_text()
            return results

        got = _as_nobody(checks)
        assert got == {
            "uid": 65534,
            "locked": f"its directory {locked} is not writable (Permission denied)",
            "locked folder": f"it cannot be created: {locked} is not writable (Permission denied)",
            "free": None,
            "null": None,
            "write": f"cannot write {locked / 'x.json'}: Permission denied",
            "through the link": "new 7",
        }
        assert os.listdir(locked) == [] and sorted(os.listdir(free)) == ["link.json", "target.json"]
    finally:
        shutil.rmtree(top)


def test_checkers_at_once_do_not_refuse_each_other(tmp_path):
    """The ranks of a distributed run all check train.out_dir at once; one's folder, made and
    removed again, must not vanish under another's probe and read as unwritable."""
    results: list[str | None] = []

    def check():
        for _ in range(41):
            results.append(output_problem(tmp_path / "run" / "deep", folder=True))

    threads = [threading.Thread(target=check) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=31)
    assert len(results) == 7 * 41 and set(results) == {None}
