"""textvae.core.training.run_dir: what a resume may change (its budget, device, threads and run
directory) and what it refuses (every other setting that differs from the saved run's)."""

import json
import os
from types import SimpleNamespace

import pytest
import torch

from textvae.cli import main
from textvae.core.errors import ConfigError
from textvae.core.training.run_dir import save_checkpoint
from textvae.core.version import __version__
from textvae.text.run.checkpoint import load_checkpoint
from textvae.text.run.config import load_config
from textvae.text.training.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def _quiet(*_):
    pass


def _rows(run):
    return (run / "metrics.jsonl").read_text()


def test_a_resume_that_asks_for_other_settings_is_refused_naming_them(tiny_config):
    run = train(tiny_config("train.max_steps=2"), progress=False, log=_quiet).run_dir
    before = _rows(run)
    asked = tiny_config("train.max_steps=4", "model.latent_dim=9", "data.max_len=20",
                        "train.kl.kind=linear")
    with pytest.raises(ConfigError) as info:
        train(asked, resume=True, progress=False, log=_quiet)
    assert str(info.value) == (
        "--resume continues the saved run; these settings differ from it and cannot change "
        "mid-run: data.max_len (saved 64, asked 20), model.latent_dim (saved 7, asked 9), "
        "train.kl.kind (saved logistic, asked linear). Start a new run (another train.out_dir) "
        "to change them"
    )
    assert _rows(run) == before and load_checkpoint(run).meta["step"] == 2  # nothing ran


def test_a_resume_may_change_the_budget_device_and_threads_and_move_the_run(tiny_config,
                                                                           tmp_path):
    run = train(tiny_config("train.max_steps=2"), progress=False, log=_quiet).run_dir
    # the run's own settings again, with another budget and device: continues
    same = tiny_config("train.max_steps=3", "train.max_minutes=30", "train.device=cpu",
                       "train.threads=2", "train.epochs=4")
    assert train(same, resume=True, progress=False, log=_quiet).step == 3
    # only the run directory and a budget (the rest at its defaults): the saved run's settings
    moved = tmp_path / "moved"
    run.rename(moved)
    bare = load_config(None, [f"train.out_dir={moved}", "train.max_steps=4"])
    result = train(bare, resume=True, progress=False, log=_quiet)
    assert result.step == 4 and result.run_dir == moved  # continued where the run now lies
    saved = load_checkpoint(moved).config
    assert saved.model.latent_dim == 7 and saved.train.out_dir == str(moved)
    # the budget, device and threads come from the request, the rest from the saved run
    assert (saved.train.max_steps, saved.train.device, saved.train.threads) == (4, "auto", None)
    assert saved.train.amp == "off" and saved.data.grammar_size == 200


def test_a_text_run_resumes_with_its_own_relative_paths_and_annealing(tmp_path, monkeypatch):
    # `--train FILE`'s recipe: the saved config holds the file's absolute path, and the KL
    # steps the run derived from train.kl.anneal_fraction; the request holds neither.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("the dog barked .\nthe cat ran away .\na dog ran .\n" * 9)
    small = ["--set", "model.embed_dim=11", "--set", "model.encoder_hidden_dim=13",
             "--set", "model.decoder_hidden_dim=15", "--set", "model.latent_dim=7",
             "--set", "train.amp=off", "--set", "train.batch_size=9", "--no-progress",
             "--set", "model.tie_embeddings=false",
             # annealing fitted to the run (the `text` recipe itself holds a KL set point)
             "--set", "train.kl.kind=logistic", "--set", "train.kl.target=null",
             "--set", "train.kl.anneal_fraction=0.5"]
    argv = ["train", "--train", "mine.txt", *small]
    assert main([*argv, "--set", "train.max_steps=2"]) == 0
    saved = load_checkpoint(tmp_path / "runs" / "mine").config
    assert saved.data.train_path == str(tmp_path / "mine.txt")
    assert saved.train.kl.anneal_fraction is None
    assert main([*argv, "--resume", "--set", "train.max_steps=3"]) == 0
    assert load_checkpoint(tmp_path / "runs" / "mine").meta["step"] == 3


def test_the_cli_refuses_a_resume_that_would_ignore_a_setting(tiny_config, capsys):
    run = train(tiny_config("train.max_steps=2"), progress=False, log=_quiet).run_dir
    assert main(["train", "--resume", "--no-progress", "--set", f"train.out_dir={run}",
                 "--set", "model.latent_dim=64", "--set", "train.max_steps=3"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "textvae: error: --resume continues the saved run; these settings differ from it and "
        "cannot change mid-run: model.latent_dim (saved 7, asked 64). Start a new run (another "
        "train.out_dir) to change them\n"
    )
    assert json.loads(_rows(run).splitlines()[-1])["step"] == 2


def test_save_checkpoint_records_the_run_points_best_and_prunes(tiny_config, tmp_path):
    run = tmp_path / "saved"
    trainer = SimpleNamespace(config=tiny_config(), run_dir=run, step=0, epoch=1,
                              model=torch.nn.Linear(3, 5), state_dict=lambda: {"bad_epochs": 0},
                              meta_extra={"command": "textvae train"})

    def save(step: int, is_best: bool):
        trainer.step = step
        return save_checkpoint(trainer, {"valid": {"neg_elbo": 40.0 - step}}, tokenizer=None,
                               kind="text", is_best=is_best)

    first = save(3, is_best=True)
    meta = json.loads((first / "meta.json").read_text())
    assert {k: meta[k] for k in ("textvae_version", "model_type", "step", "epoch", "command")} == {
        "textvae_version": __version__, "model_type": "vae", "step": 3, "epoch": 1,
        "command": "textvae train"}
    assert meta["valid"] == {"neg_elbo": 37.0} and meta["kind"] == "text"
    second = save(5, is_best=False)
    assert os.readlink(run / "best").endswith(first.name)
    assert os.readlink(run / "last").endswith(second.name)
    third = save(7, is_best=True)  # the first is then named by neither link: deleted
    assert os.readlink(run / "best").endswith(third.name) and not first.exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [third.name]
