"""``textvae export`` and ``textvae convert``, and the training command recorded for the card."""

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import torch

from textvae.cli import main
from textvae.core.checkpoint import LEGACY_WEIGHTS_FILE, WEIGHTS_FILE
from textvae.core.weights import read_tensor_file
from textvae.text.api import AGGREGATE_PRIOR_FILE, TextVAE, load
from textvae.text.api.prior import LEGACY_AGGREGATE_PRIOR_FILE

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--config", str(REPO / "configs" / "quickstart.yaml"), "--no-progress",
         "--set", "data.grammar_size=300", "--set", "model.embed_dim=11",
         "--set", "model.encoder_hidden_dim=13", "--set", "model.decoder_hidden_dim=17",
         "--set", "model.latent_dim=7", "--set", "train.batch_size=5", "--set", "train.max_steps=20",
         "--set", "train.amp=off"]
A, B, C = "the dog barked .", "the dogs barked .", "the cat ran ."


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, one_thread):
    """A tiny VAE trained with `textvae train`, as a user would, and the command line used."""
    out = tmp_path_factory.mktemp("cli") / "my run"
    argv = [*TRAIN, "--set", f"train.out_dir={out}"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["/somewhere/bin/textvae", *argv])
        assert main(argv) == 0
    return out, shlex.join(["textvae", *argv])


@pytest.fixture
def run(cli_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(cli_run[0], copy, symlinks=True)
    return copy


def no_fitting(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the training data was read or the prior was fitted")

    monkeypatch.setattr("textvae.text.api.aggregate.load_sentences", boom)
    monkeypatch.setattr(TextVAE, "fit_aggregate_prior", boom)


def test_training_records_its_command_line_in_every_checkpoint(cli_run):
    out, command = cli_run
    for link in ("best", "last"):
        assert json.loads((out / link / "meta.json").read_text())["command"] == command
    assert "'train.out_dir=" in command  # the path holds a space: quoted as a shell takes it


def test_export_writes_a_folder_every_command_loads(run, cli_run, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "shared"
    assert main(["export", str(run), "--out", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert f"as {folder}: README.md, {AGGREGATE_PRIOR_FILE}, config.yaml" in out
    fitting, fitted = err.splitlines()  # the prior's fit, up to minutes, is announced and timed
    assert fitting.startswith("fitting the aggregate prior to ") and "(once; saved in " in fitting
    assert fitted.startswith("fitted the aggregate prior in ")
    assert f"textvae.from_pretrained('{folder}')" in out
    assert cli_run[1] in (folder / "README.md").read_text()

    no_fitting(monkeypatch)
    for argv, lines in [
        (["sample", "--prior", "aggregate", "--n", "3"], 3),
        (["sample", "--n", "2"], 2),
        (["reconstruct", A, B], 4),
        (["interpolate", A, B, "--steps", "5"], 5),
        (["analogy", A, B, C], 1),
    ]:
        assert main([*argv, "-c", str(folder)]) == 0, argv
        assert len(capsys.readouterr().out.splitlines()) == lines, argv


def test_export_refuses_a_non_empty_folder_before_any_work(run, tmp_path, capsys, monkeypatch):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("textvae.text.api.load", boom)
    assert main(["export", str(run), "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: ") and "already exists and is not an empty folder" in err
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]


def test_export_pushes_to_the_hub(run, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    uploaded = {}

    class Commit:
        commit_url = "https://huggingface.co/someone/tiny/commit/1"

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded.update(repo_id=repo_id, folder=folder_path, private=self.created["private"])
        return Commit()

    def create_repo(self, repo_id, **kwargs):
        self.created = kwargs

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    folder = tmp_path / "shared"
    assert main(["export", str(run), "--out", str(folder), "--push-to-hub", "someone/tiny",
                 "--private"]) == 0
    assert uploaded == {"repo_id": "someone/tiny", "folder": str(folder), "private": True}
    out = capsys.readouterr().out
    assert f"pushed to the Hugging Face Hub: {Commit.commit_url}" in out
    assert "textvae.from_pretrained('someone/tiny')" in out
    assert 'textvae.from_pretrained("someone/tiny")' in (folder / "README.md").read_text()


def _make_legacy(checkpoint):
    """Rewrite a checkpoint as textvae wrote it before safetensors: model.pt, aggregate_prior.pt."""
    torch.save(read_tensor_file(checkpoint / WEIGHTS_FILE), checkpoint / LEGACY_WEIGHTS_FILE)
    (checkpoint / WEIGHTS_FILE).unlink()
    prior = checkpoint / AGGREGATE_PRIOR_FILE
    torch.save(read_tensor_file(prior), checkpoint / LEGACY_AGGREGATE_PRIOR_FILE)
    prior.unlink()


def test_convert_rewrites_an_old_checkpoint_in_place_once(run, capsys, monkeypatch):
    best = (run / "best").resolve()
    load(run, device="cpu").aggregate_prior()  # fitted and saved beside best's weights
    _make_legacy(best)
    no_fitting(monkeypatch)
    before = load(run, device="cpu").sample(4, prior="aggregate", seed=2)  # legacy files read

    assert main(["convert", str(best)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{best}: converted model.pt to model.safetensors (and removed model.pt)",
                   f"{best}: converted aggregate_prior.pt to aggregate_prior.safetensors"]
    assert sorted(p.name for p in best.iterdir() if p.is_file()) == [
        AGGREGATE_PRIOR_FILE, "config.yaml", "meta.json", WEIGHTS_FILE, "trainer.pt"]
    assert load(run, device="cpu").sample(4, prior="aggregate", seed=2) == before

    assert main(["convert", str(best)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{best}: already converted (model.safetensors); nothing to do")
    assert main(["convert", str(run / "nope")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
