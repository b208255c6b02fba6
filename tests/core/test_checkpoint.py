import errno
import os
import pickle

import pytest
import torch

from textvae.core.checkpoint import (
    LEGACY_WEIGHTS_FILE,
    WEIGHTS_FILE,
    CheckpointKind,
    convert_checkpoint,
    load_weights,
    point_link,
    prune_checkpoints,
    resolve_checkpoint_dir,
    write_checkpoint,
)
from textvae.core.errors import CheckpointError
from textvae.text.data.tokenizers import WordTokenizer
from textvae.text.run.checkpoint import load_checkpoint
from textvae.text.run.config import Config


def _write(run_dir, step, **extra):
    tok = WordTokenizer.build(["the cat sat", "a dog ran"])
    state = {"w": torch.arange(35.0).reshape(5, 7)}
    return write_checkpoint(run_dir, config=Config(), tokenizer=tok, model_state=state,
                            trainer_state={"step": step}, meta={"step": step, **extra})


def test_round_trip_is_exact(tmp_path):
    path = _write(tmp_path, 3)
    ckpt = load_checkpoint(tmp_path)  # a run directory without `best` resolves to `last`
    assert ckpt.path.resolve() == path.resolve()
    assert torch.equal(ckpt.model_state["w"], torch.arange(35.0).reshape(5, 7))
    assert ckpt.config == Config()
    assert ckpt.tokenizer.encode("the dog") == WordTokenizer.build(["the cat sat", "a dog ran"]).encode("the dog")
    assert ckpt.trainer_state is None
    assert load_checkpoint(path, with_trainer=True).trainer_state == {"step": 3}


def test_last_moves_and_pruning_keeps_linked_checkpoints(tmp_path):
    first = _write(tmp_path, 1)
    point_link(tmp_path, "best", first)
    second = _write(tmp_path, 2)
    third = _write(tmp_path, 3)
    prune_checkpoints(tmp_path)
    assert (tmp_path / "last").resolve() == third.resolve()
    assert (tmp_path / "best").resolve() == first.resolve()
    assert first.exists() and third.exists() and not second.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_missing_and_incomplete_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope")
    path = _write(tmp_path, 1)
    os.remove(path / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match=r"missing model.safetensors \(or, from older versions, model.pt\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_weights_are_refused(tmp_path, legacy):
    path = _write(tmp_path, 1)
    if legacy:
        _make_legacy(path)
    file = path / (LEGACY_WEIGHTS_FILE if legacy else WEIGHTS_FILE)
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=f"cannot read .*{file.name}.*truncated, corrupt"):
        load_checkpoint(path)


def _make_legacy(path, state=None):
    """Turn a checkpoint into one written before safetensors: its weights in torch.save's model.pt."""
    state = load_checkpoint(path).model_state if state is None else state
    os.remove(path / WEIGHTS_FILE)
    torch.save(state, path / LEGACY_WEIGHTS_FILE)
    return state


def test_weights_are_safetensors_and_round_trip_exactly(tmp_path):
    from safetensors.torch import load_file

    path = _write(tmp_path, 1)
    assert (path / WEIGHTS_FILE).is_file() and not (path / LEGACY_WEIGHTS_FILE).exists()
    assert (path / "trainer.pt").is_file()  # the optimizer state stays torch.save
    raw = load_file(path / WEIGHTS_FILE)  # any safetensors reader can read it, nothing unpickled
    assert torch.equal(raw["w"], torch.arange(35.0).reshape(5, 7))
    assert torch.equal(load_checkpoint(path).model_state["w"], raw["w"])


def test_a_legacy_model_pt_checkpoint_still_loads(tmp_path):
    path = _write(tmp_path, 1)
    _make_legacy(path)
    ckpt = load_checkpoint(path, with_trainer=True)
    assert torch.equal(ckpt.model_state["w"], torch.arange(35.0).reshape(5, 7))
    assert ckpt.trainer_state == {"step": 1}


def test_convert_rewrites_model_pt_in_place_and_is_idempotent(tmp_path):
    first = _write(tmp_path, 1)
    point_link(tmp_path, "best", first)
    second = _write(tmp_path, 2)  # a run directory with two checkpoints, best and last
    tied = torch.randn(11, 5)
    states = {first: _make_legacy(first),
              second: _make_legacy(second, {"emb": tied, "out": tied, "b": torch.zeros(3)})}
    assert convert_checkpoint(tmp_path) == [(first, True), (second, True)]
    for path, state in states.items():
        assert sorted(p.name for p in path.iterdir() if p.is_file()) == [
            "config.yaml", "meta.json", WEIGHTS_FILE, "trainer.pt"]  # no model.pt, no temporary
        got = load_checkpoint(path).model_state
        assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)
    assert convert_checkpoint(tmp_path) == [(first, False), (second, False)]  # nothing to do
    assert convert_checkpoint(second) == [(second, False)]
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        convert_checkpoint(tmp_path / "nope")


def test_convert_finishes_a_conversion_killed_before_model_pt_was_removed(tmp_path):
    path = _write(tmp_path, 1)
    state = _make_legacy(path)
    (path / WEIGHTS_FILE).write_bytes(b"half a file")  # killed mid-way by an older writer
    assert convert_checkpoint(path) == [(path, True)]
    assert not (path / LEGACY_WEIGHTS_FILE).exists()
    assert torch.equal(load_checkpoint(path).model_state["w"], state["w"])


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


# torch warns that the planted file uses a pickle protocol it does not write itself: expected.
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_payload_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path / "run", 1)
    os.remove(path / WEIGHTS_FILE)  # a legacy checkpoint: model.pt is still read
    with open(path / LEGACY_WEIGHTS_FILE, "wb") as fh:
        pickle.dump({"w": _Payload()}, fh)
    with pytest.raises(CheckpointError, match="never unpickles arbitrary objects"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("failing", [WEIGHTS_FILE, "trainer.pt"])
def test_a_full_disk_leaves_the_previous_checkpoint_and_last_untouched(tmp_path, monkeypatch, failing):
    import safetensors

    import textvae.core.weights

    first = _write(tmp_path, 5)
    real_save, real_save_file = torch.save, textvae.core.weights.save_file

    def full_disk(obj, f, *args, **kwargs):
        if failing == "trainer.pt" and os.path.basename(f) == failing:
            with open(f, "wb") as fh:
                fh.write(b"\x80\x02half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        return real_save(obj, f, *args, **kwargs)

    def full_disk_safetensors(tensors, filename, metadata=None):
        # safetensors reports I/O errors as SafetensorError, not OSError
        with open(filename, "wb") as fh:
            fh.write(b"half")
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on "
                                          "device (os error 28)")

    monkeypatch.setattr(torch, "save", full_disk)
    if failing == WEIGHTS_FILE:
        monkeypatch.setattr(textvae.core.weights, "save_file", full_disk_safetensors)
    else:
        monkeypatch.setattr(textvae.core.weights, "save_file", real_save_file)
    with pytest.raises(CheckpointError, match="No space left on device.*step-00000005 is intact"):
        _write(tmp_path, 9)
    assert os.listdir(tmp_path / "checkpoints") == ["step-00000005"]  # no temporary left
    assert (tmp_path / "last").resolve() == first.resolve()
    assert load_checkpoint(tmp_path, with_trainer=True).trainer_state == {"step": 5}


def test_pruning_removes_what_a_killed_writer_left(tmp_path):
    path = _write(tmp_path, 3)
    (tmp_path / "checkpoints" / ".tmp-step-00000006-99999").mkdir()
    os.symlink("checkpoints", tmp_path / ".last.tmp-99999")
    prune_checkpoints(tmp_path)
    assert os.listdir(tmp_path / "checkpoints") == [path.name]
    assert not (tmp_path / ".last.tmp-99999").is_symlink()


def test_one_run_directory_rule_best_else_last(tmp_path):
    first = _write(tmp_path, 1)
    assert resolve_checkpoint_dir(tmp_path) == tmp_path / "last"  # no best yet
    point_link(tmp_path, "best", first)
    second = _write(tmp_path, 2)
    assert resolve_checkpoint_dir(tmp_path) == tmp_path / "best"
    assert load_checkpoint(tmp_path).meta["step"] == 1  # best, though last is step 2
    assert resolve_checkpoint_dir(second) == second  # a checkpoint directory is itself
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        resolve_checkpoint_dir(tmp_path / "nope")


def test_a_checkpoint_of_the_other_kind_is_refused_with_the_command_to_use(tmp_path):
    _write(tmp_path, 1)
    with pytest.raises(CheckpointError, match="is a text-model checkpoint, not image; use `textvae sample"):
        from textvae.core.checkpoint import load_checkpoint as load_any_checkpoint
        from textvae.image.run.config import ImageConfig

        load_any_checkpoint(tmp_path, CheckpointKind("image", ImageConfig))


def test_weights_that_do_not_fit_are_one_clear_error(tmp_path):
    ckpt = load_checkpoint(_write(tmp_path, 1))
    model = torch.nn.Linear(5, 3)  # 'weight' and 'bias', not 'w'
    with pytest.raises(CheckpointError, match="weights do not match the model its config describes"):
        load_weights(model, ckpt)


def test_a_symbolic_link_loop_or_a_link_to_nothing_is_named(tmp_path):
    from textvae.core.checkpoint import check_checkpoint_exists

    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    for call in (resolve_checkpoint_dir, load_checkpoint, convert_checkpoint, check_checkpoint_exists):
        with pytest.raises(CheckpointError, match=rf"^checkpoint {loop} is a symbolic link loop; point it at"):
            call(loop)
    with pytest.raises(CheckpointError, match=r"passes through a symbolic link loop"):
        resolve_checkpoint_dir(loop / "step-3")
    dangling = tmp_path / "last"
    os.symlink("checkpoints/step-9", dangling)
    with pytest.raises(CheckpointError, match=r"is a symbolic link to checkpoints/step-9, which does not exist$"):
        resolve_checkpoint_dir(dangling)
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: "):
        resolve_checkpoint_dir(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: "):
        check_checkpoint_exists("a\0b")
