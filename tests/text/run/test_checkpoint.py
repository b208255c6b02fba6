"""A run's starting weights: a warm start from a trained LM (train.init_from) gives a new VAE the
LM's decoder and embedding and tokenizer; a resumed run takes its own weights instead."""

import shutil

import pytest
import torch
from tiny import TINY_RUN, train_tiny

from textvae.core.errors import ConfigError
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.checkpoint import load_checkpoint, starting_weights
from textvae.text.run.config import load_config
from textvae.text.training.train import train


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A tiny LSTM LM, trained a few steps."""
    return train_tiny(tmp_path_factory.mktemp("warm") / "lm", "model.model_type=lm", "train.max_steps=5")


def test_a_warm_started_vae_starts_from_the_lm_decoder(lm_run):
    config = load_config(None, [*TINY_RUN, f"train.init_from={lm_run}"])
    lm = load_checkpoint(lm_run)
    model = build_model(config.model, lm.tokenizer.vocab_size, lm.tokenizer.pad_id)
    fresh_encoder = {n: t.clone() for n, t in model.state_dict().items() if n.startswith("encoder.")}
    lines: list[str] = []
    starting_weights(model, None, config.train.init_from, lines.append)
    state = model.state_dict()
    assert lm.model_state  # the LM has weights to give
    for name, tensor in lm.model_state.items():
        assert torch.equal(state[name], tensor), name
    for name, tensor in fresh_encoder.items():  # the VAE's own parts keep their initialisation
        assert torch.equal(state[name], tensor), name
    assert len(lines) == 1 and lines[0].startswith(f"warm start from {lm_run}: ")


def test_a_warm_start_takes_the_source_tokenizer_and_trains(lm_run, tmp_path, monkeypatch):
    out = tmp_path / "vae"
    lines: list[str] = []
    monkeypatch.chdir(lm_run.parent)  # init_from given relative, as a user types it
    config = load_config(None, [*TINY_RUN, f"train.init_from={lm_run.name}", "train.max_steps=3",
                                f"train.out_dir={out}"])
    train(config, progress=False, log=lines.append)
    assert any(line.startswith(f"warm start from {lm_run}: ") for line in lines)
    monkeypatch.chdir(tmp_path)  # the saved config reads from anywhere: both paths absolute
    vae, lm = load_checkpoint(out / "last"), load_checkpoint(lm_run)
    assert vae.config.train.init_from == vae.config.data.tokenizer.from_run == str(lm_run)
    assert vae.tokenizer.vocab_size == lm.tokenizer.vocab_size
    assert vae.tokenizer.encode("the dog sees a cat") == lm.tokenizer.encode("the dog sees a cat")
    # Resuming takes the run's own weights: the source may be gone by then.
    moved = tmp_path / "lm_moved"
    shutil.copytree(lm_run, moved)
    resumed_lines: list[str] = []
    try:
        shutil.rmtree(lm_run)
        train(load_config(None, [*TINY_RUN, f"train.init_from={lm_run}", "train.max_steps=5",
                                 f"train.out_dir={out}"]), resume=True, progress=False,
              log=resumed_lines.append)
    finally:
        shutil.copytree(moved, lm_run)
    assert not any(line.startswith("warm start") for line in resumed_lines)
    assert any(line.startswith(f"resumed from {out / 'last'} at step 3") for line in resumed_lines)
    assert load_checkpoint(out / "last", with_trainer=True).trainer_state["step"] == 5


def test_a_warm_start_refuses_another_runs_tokenizer_before_writing(lm_run, tmp_path):
    out = tmp_path / "vae"
    config = load_config(None, [*TINY_RUN, f"train.init_from={lm_run}", f"train.out_dir={out}",
                                f"data.tokenizer.from_run={tmp_path / 'other'}"])
    with pytest.raises(ConfigError, match="needs that run's tokenizer"):
        train(config, progress=False, log=lambda message: None)
    assert not out.exists()


def test_a_missing_warm_start_source_is_named_before_anything_is_written(tmp_path):
    out = tmp_path / "vae"
    config = load_config(None, [*TINY_RUN, f"train.init_from={tmp_path / 'nope'}", f"train.out_dir={out}"])
    with pytest.raises(ConfigError, match=r"train.init_from '.*nope' does not exist"):
        train(config, progress=False, log=lambda message: None)
    assert not out.exists()
