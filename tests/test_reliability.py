"""Issue 7: the catalogue of bad inputs, faults and safe checkpoints, driven through the CLI.

Every bad input must give exit status 2, one line ``textvae: error: ...`` that names the problem
and what to do, no traceback, and no output file or directory left behind.
"""

import errno
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import textvae.text.training.train
from textvae.cli import main
from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.run.checkpoint import load_checkpoint
from textvae.text.run.config import load_config
from textvae.text.run.corpus import build_corpus
from textvae.text.training.train import train

TINY = [
    "data.grammar_size=200",
    "model.embed_dim=11",
    "model.encoder_hidden_dim=13",
    "model.decoder_hidden_dim=17",
    "model.latent_dim=7",
    "train.batch_size=7",
    "train.log_every=1",
    "train.threads=1",  # not chosen from the load: the kill -9 test compares weights bit for bit
]
SENTENCE = "the dog barked ."

pytestmark = pytest.mark.usefixtures("one_thread")


def _sets(*overrides: str) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def _fails(capsys, argv, message: str) -> str:
    """Run the CLI, expect the catalogue's contract, and return the error line."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: "), err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert len(err) < 600, "an error message must stay readable"
    return err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("rel") / "run"
    cfg = load_config(None, [*TINY, "train.max_steps=3", f"train.out_dir={out}"])
    train(cfg, progress=False, log=lambda m: None)
    return out


@pytest.fixture
def run_copy(run_dir, tmp_path):
    """A private copy of the trained run, to damage."""
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, symlinks=True)
    return copy


# ------------------------------------------------------------------------------ bad corpora


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing", None, "not found; check the path in the data config"),
        ("adir", "DIR", "is a directory; give a text file with one sentence per line"),
        ("empty", b"", "contains no sentences (0 blank lines)"),
        ("blank", b"\n   \n\t\n", "contains no sentences (3 blank lines)"),
        ("latin1", "the dog barked .\nthe caf\xe9 .\n".encode("latin-1"),
         "line 2: invalid UTF-8 (byte 0xe9 at column 8); re-encode the file as UTF-8"),
    ],
)
def test_bad_corpus_files_are_refused_and_leave_no_run(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    argv = ["train", "--no-progress", *_sets(*TINY, "data.source=text", f"data.train_path={path}",
                                              f"data.valid_path={path}", f"train.out_dir={out}")]
    _fails(capsys, argv, message)
    assert not out.exists()


def test_missing_config_file(tmp_path, capsys):
    _fails(capsys, ["train", "--config", str(tmp_path / "nope.yaml")], "config file not found")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lerning_rate=0.1", "unknown key 'train.lerning_rate'"),
        ("train.batch_size=seven", "train.batch_size: expected an integer, got 'seven'"),
        ("train.optimizer=rmsprop", "invalid choice 'rmsprop'; valid choices: 'adam', 'sgd'"),
        ("train.nonfinite=ignore", "invalid choice 'ignore'; valid choices: 'stop', 'skip'"),
        ("model.latent_dim=0", "model.latent_dim must be positive, got 0"),
        ("train.batch_size=-5", "train.batch_size must be positive, got -5"),
        ("data.max_len=0", "data.max_len must be positive or null, got 0"),
        ("train.lr=.nan", "train.lr: expected a finite number, got nan"),
    ],
)
def test_bad_configs_are_refused_before_anything_is_written(tmp_path, capsys, override, message):
    out = tmp_path / "out"
    _fails(capsys, ["train", *_sets(f"train.out_dir={out}", override)], message)
    assert not out.exists()


# ------------------------------------------------------------------------------ long lines


def test_training_drops_or_truncates_a_100000_token_line(tmp_path, capsys):
    lines = ["the dog barked .", "a cat ran away .", "the dogs slept ."] * 5
    train_file = tmp_path / "train.txt"
    train_file.write_text("\n".join(lines[:7] + [" ".join(["dog"] * 100_000)] + lines[7:]) + "\n")
    for policy, expect in (("drop", [4, 5]), ("truncate", [4, 5, 19])):
        cfg = load_config(None, ["data.source=text", f"data.train_path={train_file}",
                                 "data.max_len=19", f"data.long_sentences={policy}"])
        notes = []
        corpus = build_corpus(cfg.data, splits=("train",), log=notes.append)
        assert sorted({len(x) for x in corpus.ids["train"]}) == expect
        verb = "dropped" if policy == "drop" else "truncated"
        assert f"1 longer than 19 tokens {verb}" in notes[-1]
    # and a whole training run through the CLI reports the count and finishes
    out = tmp_path / "out"
    argv = ["train", "--no-progress", *_sets(*TINY, "data.source=text", f"data.train_path={train_file}",
                                              f"data.valid_path={train_file}", "data.max_len=19",
                                              "train.max_steps=2", f"train.out_dir={out}")]
    # validation never drops sentences, so the 100,000-token line is evaluated (cheaply) too
    assert main(argv) == 0
    assert "1 longer than 19 tokens dropped" in capsys.readouterr().out
    assert load_checkpoint(out).meta["step"] == 2


def test_encoding_refuses_a_100000_token_line(run_dir, capsys, tmp_path):
    file = tmp_path / "long.txt"
    file.write_text(" ".join(["dog"] * 100_000) + "\n")
    start = time.monotonic()
    _fails(capsys, ["reconstruct", "-c", str(run_dir), "--file", str(file)],
           "has 100,000 tokens, more than the 4,096 that textvae encodes; split it into sentences")
    assert time.monotonic() - start < 10  # refused up front, not after encoding it


# ------------------------------------------------------------------------------ generation input


def test_generation_input_errors(run_dir, capsys):
    ck = ["-c", str(run_dir), "--device", "cpu"]
    _fails(capsys, ["reconstruct", *ck, "zyzzyva qwxj"],
           "every token of sentence 1 ('zyzzyva qwxj') is unknown to this model's vocabulary")
    _fails(capsys, ["interpolate", *ck, "", SENTENCE], "sentence 1 is empty ('')")
    _fails(capsys, ["interpolate", *ck, SENTENCE, "   "], "sentence 2 is empty ('   ')")
    _fails(capsys, ["sample", *ck, "--max-len", "0"], "max_len must be an integer >= 1")
    _fails(capsys, ["reconstruct", *ck, SENTENCE, "--max-len", "0"], "max_len must be an integer >= 1")
    # a sentence with some unknown words is encoded, the unknown ones as <unk>
    assert main(["reconstruct", *ck, "the zyzzyva barked ."]) == 0
    assert capsys.readouterr().out.startswith("> the zyzzyva barked .")


def test_unwritable_outputs_leave_nothing_behind(run_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    _fails(capsys, ["data", "grammar", "--n", "31", "--out", str(blocker)],
           f"cannot write the grammar corpus to --out {blocker}")
    assert blocker.read_text() == "not a directory\n"
    report = tmp_path / "missing-dir" / "report.json"
    _fails(capsys, ["quality", "-c", str(run_dir), "--n-samples", "3", "--out", str(report)],
           "its directory does not exist")
    assert not report.parent.exists()


# ------------------------------------------------------------------------------ checkpoints


def test_missing_checkpoint_directory(tmp_path, capsys):
    _fails(capsys, ["sample", "-c", str(tmp_path / "nowhere")], "checkpoint not found")


def _last(run: Path) -> Path:
    return run / "last"


def test_a_checkpoint_missing_a_file(run_copy, capsys):
    os.remove(_last(run_copy) / "config.yaml")
    _fails(capsys, ["sample", "-c", str(run_copy)], "is not a complete textvae checkpoint: missing config.yaml")


def test_a_truncated_weights_file(run_copy, capsys):
    weights = _last(run_copy) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1001])
    _fails(capsys, ["sample", "-c", str(run_copy)], "The file is truncated, corrupt")
    _fails(capsys, ["train", "--resume", "--no-progress", *_sets(f"train.out_dir={run_copy}")], "truncated, corrupt")


def test_a_checkpoint_of_another_model_type(run_copy, capsys):
    meta_file = _last(run_copy) / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "model_type": "conv_vae"}))
    _fails(capsys, ["sample", "-c", str(run_copy)], "holds a model of type 'conv_vae'")
    meta_file.write_text(json.dumps({**meta, "model_type": "lm"}))  # config.yaml says vae
    _fails(capsys, ["sample", "-c", str(run_copy)], "meta.json says model type 'lm' but config.yaml")


def test_a_tokenizer_whose_vocabulary_does_not_match_the_weights(run_copy, capsys):
    ckpt = _last(run_copy)
    trained = json.loads((ckpt / "meta.json").read_text())["vocab_size"]
    other = WordTokenizer.build(["alpha beta gamma delta epsilon"])
    assert other.vocab_size != trained
    other.save(ckpt / "tokenizer")
    _fails(capsys, ["sample", "-c", str(run_copy)],
           f"the tokenizer has {other.vocab_size} ids but the weights were trained with {trained}")
    # without the meta.json record, the weights' own shapes still catch it
    meta = json.loads((ckpt / "meta.json").read_text())
    del meta["vocab_size"]
    (ckpt / "meta.json").write_text(json.dumps(meta))
    _fails(capsys, ["sample", "-c", str(run_copy)], "the weights do not match the model")
    _fails(capsys, ["train", "--resume", "--no-progress", *_sets(f"train.out_dir={run_copy}")],
           "the weights do not match the model")


class _OpensAFile:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["model.pt", "trainer.pt"])
def test_a_pickled_payload_in_any_weights_file_is_refused_and_never_runs(run_copy, tmp_path,
                                                                         capsys, name):
    marker = tmp_path / f"ran-{name}"
    target = _last(run_copy) / name
    if name == "model.pt":  # a checkpoint from before safetensors: its weights are model.pt
        os.remove(_last(run_copy) / "model.safetensors")
    with open(target, "wb") as fh:
        pickle.dump({"state": _OpensAFile(marker)}, fh, protocol=2)
    # The payload is live: a plain unpickle runs it. This is what textvae must never do.
    with open(target, "rb") as fh:
        pickle.load(fh)
    assert marker.exists()
    marker.unlink()
    argv = (["train", "--resume", "--no-progress", *_sets(f"train.out_dir={run_copy}")] if name == "trainer.pt"
            else ["sample", "-c", str(run_copy)])
    _fails(capsys, argv, "textvae never unpickles arbitrary objects")
    assert not marker.exists()


# ------------------------------------------------------------------------------ faults in training


def _train_argv(out: Path, *overrides: str) -> list[str]:
    return ["train", "--no-progress", "--device", "cpu", *_sets(*TINY, f"train.out_dir={out}", *overrides)]


def _poison(monkeypatch, bad_calls: set[int]) -> None:
    """Make the training objective non-finite on the given (1-based) training steps."""
    original = textvae.text.training.train.vae_objective
    calls = {"n": 0}

    def objective(*args, **kwargs):
        terms = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] in bad_calls:
            return terms._replace(loss=terms.loss * float("nan"))
        return terms

    monkeypatch.setattr(textvae.text.training.train, "vae_objective", objective)


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "nan"
    _poison(monkeypatch, {5})
    _fails(capsys, _train_argv(out, "train.max_steps=9", "train.checkpoint_every=3"),
           "the training loss became nan at step 5; stopped without saving, and the last good "
           "checkpoint, step-00000003, is kept")
    ckpt = load_checkpoint(out, with_trainer=True)
    assert ckpt.meta["step"] == 3 and ckpt.trainer_state["step"] == 3
    assert all(torch.isfinite(t).all() for t in ckpt.model_state.values())
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


def test_nonfinite_loss_can_skip_the_batch_and_count_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / "skip"
    _poison(monkeypatch, {2, 4})
    assert main(_train_argv(out, "train.max_steps=6", "train.nonfinite=skip")) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    skipped = {r["step"]: r["skipped_batches"] for r in rows if r["split"] == "train"}
    assert skipped == {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 2}
    ckpt = load_checkpoint(out, with_trainer=True)
    assert ckpt.trainer_state["skipped_batches"] == 2 and ckpt.meta["step"] == 6
    assert all(torch.isfinite(t).all() for t in ckpt.model_state.values())


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, capsys,
                                                                      monkeypatch):
    out = tmp_path / "full"
    assert main(_train_argv(out, "train.max_steps=3")) == 0
    capsys.readouterr()
    before = load_checkpoint(out, with_trainer=True)

    def save_until_the_disk_fills(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:  # part of the file lands, then the disk is full
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))

    monkeypatch.setattr("textvae.core.weights.save_file", save_until_the_disk_fills)
    err_checked = _fails(capsys, ["train", "--resume", "--no-progress", *_sets(f"train.out_dir={out}",
                                                               "train.max_steps=5")],
                         "cannot write checkpoint step-00000005 in")
    assert "No space left on device" in err_checked
    assert "step-00000003 is intact" in err_checked and "resume with --resume" in err_checked
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000003"]
    after = load_checkpoint(out, with_trainer=True)
    assert after.path.resolve() == before.path.resolve()
    for key, tensor in before.model_state.items():
        assert torch.equal(after.model_state[key], tensor)
    monkeypatch.undo()  # space freed: the run continues
    assert main(["train", "--resume", "--no-progress", *_sets(f"train.out_dir={out}",
                                                                "train.max_steps=5")]) == 0
    assert load_checkpoint(out).meta["step"] == 5


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH", "")])
    return env


def _spawn(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "textvae", *argv], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _metric_rows(out: Path) -> int:
    path = out / "metrics.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "term"
    proc = _spawn(_train_argv(out, "train.epochs=1000"))
    deadline = time.monotonic() + 60
    while _metric_rows(out) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "done: received SIGTERM" in stdout and "Traceback" not in stderr
    step = load_checkpoint(out, with_trainer=True).meta["step"]
    assert step >= 3
    resumed = _spawn(["train", "--resume", "--no-progress",
                      *_sets(f"train.out_dir={out}", f"train.max_steps={step + 2}")])
    stdout, stderr = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, stderr
    assert load_checkpoint(out).meta["step"] == step + 2


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    """SIGKILL a training run again and again, at random moments (checkpoint writes included),
    resume each time, and end with exactly the weights of a run that was never interrupted."""
    budget = ["train.max_steps=60", "train.checkpoint_every=4", "train.eval_every=11"]
    reference = tmp_path / "reference"
    proc = _spawn(_train_argv(reference, *budget))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    out = tmp_path / "killed"
    rng = random.Random(7)
    kills = 0
    for _ in range(40):  # each round makes progress, so far fewer are needed
        resume = (out / "last").exists()
        argv = (["train", "--resume", "--no-progress", "--device", "cpu",
                 *_sets(f"train.out_dir={out}", "train.max_steps=60")]
                if resume else _train_argv(out, *budget))
        rows = _metric_rows(out)
        proc = _spawn(argv)
        if kills < 6:
            # wait until this process trains, then kill it a random moment later
            deadline = time.monotonic() + 60
            while _metric_rows(out) <= rows and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        _, stderr = proc.communicate(timeout=120)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, stderr
    assert kills >= 5
    assert proc.returncode == 0
    got, want = load_checkpoint(out), load_checkpoint(reference)
    assert got.meta["step"] == want.meta["step"] == 60
    assert got.model_state.keys() == want.model_state.keys()
    for key, tensor in want.model_state.items():
        assert torch.equal(got.model_state[key], tensor), key
    assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------------ a disk that fills
# Each writer below meets a disk that fills part way through a file: os.write (the reports' and
# tokenizers' writer), torch.save and safetensors' save_file write some bytes into the files
# under `disk`, then fail with ENOSPC. Whatever was there before stays, no temporary file or
# folder is left, and the user reads one line.


def _disk_fills(monkeypatch, disk: Path, *, after: int = 37,
                writers=("os.write", "torch.save", "save_file")) -> list[str]:
    """Writes to files under ``disk`` take ``after`` bytes in all (through os.write; the other
    ``writers`` a few bytes of a file), then fail with ENOSPC; returns the names of the files
    that met the full disk (a temporary file as the name it stands for)."""
    import safetensors

    import textvae.core.weights

    disk = disk.resolve()
    left = {"bytes": after}
    hit: list[str] = []
    real_write, real_save = os.write, torch.save

    def on_disk(name) -> bool:
        return Path(os.fsdecode(name)).resolve().is_relative_to(disk)

    def full(name):
        # ".model.safetensors.k3j_9x.tmp": a temporary file beside its target
        base = os.path.basename(os.fsdecode(name))
        hit.append(re.sub(r"^\.(.+)\.[^.]+\.tmp$", r"\1", base))
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(name))

    def write(fd, data):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = ""
        if not name.startswith("/") or not on_disk(name):
            return real_write(fd, data)
        if left["bytes"] <= 0:
            raise full(name)
        taken = real_write(fd, bytes(data[: left["bytes"]]))
        left["bytes"] -= taken
        return taken

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and on_disk(f):
            Path(f).write_bytes(b"\x80\x02 part of a pickle")
            full(f)  # what torch.save given a path says of a full disk (torch 2.x):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 "
                               "vs 598")
        return real_save(obj, f, *args, **kwargs)

    def save_file(tensors, filename, metadata=None):
        if on_disk(filename):
            Path(filename).write_bytes(b"\x08\x00 part of the header")
            full(filename)
            raise safetensors.SafetensorError("Error while serializing: I/O error: No space "
                                              "left on device (os error 28)")
        return real_save_file(tensors, filename, metadata=metadata)

    real_save_file = textvae.core.weights.save_file
    if "os.write" in writers:
        monkeypatch.setattr(os, "write", write)
    if "torch.save" in writers:
        monkeypatch.setattr(torch, "save", save)
    if "save_file" in writers:
        monkeypatch.setattr(textvae.core.weights, "save_file", save_file)
    return hit


def _fails_after_work(capsys, argv, message: str) -> str:
    """:func:`_fails` for an error met after the work began: notes of the work may come first
    on stderr, then exactly one error line, the last."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("textvae: error: ")]
    assert errors == lines[-1:] and "Traceback" not in lines, lines
    assert message in errors[0] and len(errors[0]) < 600, errors[0]
    return errors[0]


def _listing(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``, hidden ones included, with a file's bytes."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def test_a_disk_that_fills_while_writing_a_report_keeps_the_old_report(run_dir, tmp_path,
                                                                      capsys, monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "report.json").write_text('{"old": 3}\n')
    (disk / "link.json").symlink_to("report.json")  # through a link, into its target's folder
    before = _listing(disk)
    hit = _disk_fills(monkeypatch, disk)
    for output in ("report.json", "link.json"):
        err = _fails_after_work(
            capsys, ["evaluate", str(run_dir), "--device", "cpu", "--iw-samples", "3",
                     "--sentences", "5", "--diversity-samples", "3", "--no-quality",
                     "--no-progress", "--output", str(disk / output)],
            f"cannot write {disk / output}: No space left on device")
        assert err.endswith(": No space left on device")
    assert len(hit) == 2  # the disk did fill, once for each
    assert _listing(disk) == before


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_a_disk_that_fills_while_saving_a_tokenizer_keeps_the_old_one(kind, tmp_path,
                                                                      monkeypatch):
    from textvae.core.errors import FileWriteError
    from textvae.text.data.tokenizers import SentencePieceTokenizer, load_tokenizer

    sentences = [f"the dog {w} barked at {v} ." for w in ("red", "old", "big") for v in "abcdefg"]
    disk = tmp_path / "disk"
    old = WordTokenizer.build(["alpha beta gamma"])
    old.save(disk)
    before = _listing(disk)
    tokenizer = (WordTokenizer.build(sentences) if kind == "word" else
                 SentencePieceTokenizer.build(sentences, vocab_size=43, model_type="bpe"))
    hit = _disk_fills(monkeypatch, disk)
    with pytest.raises(FileWriteError) as raised:
        tokenizer.save(disk)
    assert hit and str(raised.value).startswith(f"cannot write {disk}")
    assert str(raised.value).endswith(": No space left on device")
    assert "\n" not in str(raised.value)
    monkeypatch.undo()
    assert _listing(disk) == before
    assert load_tokenizer(disk).tokens == old.tokens


@pytest.mark.parametrize("failing", ["tokenizer", "trainer.pt"])
def test_a_disk_that_fills_part_way_through_a_checkpoint_keeps_the_previous_one(
        failing, tmp_path, capsys, monkeypatch):
    """Beside the weights (above): the checkpoint's tokenizer (written with os.write) and its
    trainer state (torch.save)."""
    out = tmp_path / "full"
    assert main(_train_argv(out, "train.max_steps=3")) == 0
    capsys.readouterr()
    before = _listing(out / "checkpoints")
    hit = _disk_fills(monkeypatch, out / "checkpoints", after=11,
                      writers=("os.write",) if failing == "tokenizer" else ("torch.save",))
    err = _fails_after_work(capsys, ["train", "--resume", "--no-progress",
                                     *_sets(f"train.out_dir={out}", "train.max_steps=5")],
                            "cannot write checkpoint step-00000005 in")
    assert "step-00000003 is intact. Free some disk space" in err
    if failing == "tokenizer":  # torch.save's own message (above) does not name the cause
        assert ": No space left on device; the previous checkpoint" in err
    assert hit == ["textvae_tokenizer.json" if failing == "tokenizer" else "trainer.pt"]
    assert _listing(out / "checkpoints") == before
    assert (out / "last").resolve().name == "step-00000003"


@pytest.mark.parametrize("failing", ["weights", "tokenizer or card"])
def test_a_disk_that_fills_while_exporting_leaves_no_folder(failing, run_copy, tmp_path,
                                                           capsys, monkeypatch):
    disk = tmp_path / "disk"
    (disk / "shared").mkdir(parents=True)  # an empty folder to export into: it stays so
    hit = _disk_fills(monkeypatch, disk, after=53,
                      writers=("save_file",) if failing == "weights" else ("os.write",))
    err = _fails_after_work(capsys, ["export", str(run_copy), "--out", str(disk / "shared")],
                            f"cannot write {disk / 'shared'}: No space left on device")
    assert err.endswith(f"{disk / 'shared'}: No space left on device")  # not a temporary's
    assert len(hit) == 1 and (hit[0] == "model.safetensors") == (failing == "weights")
    assert _listing(disk) == {"shared": None}, "a temporary folder or file was left"
    monkeypatch.undo()  # space freed: the same command now works
    assert main(["export", str(run_copy), "--out", str(disk / "shared")]) == 0
    assert (disk / "shared" / "model.safetensors").is_file()
