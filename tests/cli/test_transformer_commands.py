"""A transformer run through every command a user reaches for: `--set model.decoder=transformer`
on a shipped text config, then sample, reconstruct, interpolate, evaluate and export."""

import json
from pathlib import Path

import pytest

from textvae.cli import main
from textvae.text.run.config import load_config

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[2]
A, B = "the dog barked .", "the cat ran ."


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("transformer") / "run"
    argv = ["train", "--config", str(REPO / "configs" / "quickstart.yaml"), "--no-progress",
            "--set", "model.encoder=transformer", "--set", "model.decoder=transformer",
            "--set", "model.embed_dim=15", "--set", "model.heads=3", "--set", "model.ff_dim=21",
            "--set", "model.latent_dim=7", "--set", "data.grammar_size=300",
            "--set", "train.batch_size=5", "--set", "train.max_steps=12", "--set", "train.amp=off",
            "--set", f"train.out_dir={out}"]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize("method", ["greedy", "sample", "beam"])
def test_sample_by_every_method(run, capsys, method):
    assert main(["sample", "-c", str(run), "--n", "3", "--method", method, "--max-len", "9"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_reconstruct_interpolate_evaluate_and_export(run, tmp_path, capsys):
    assert main(["reconstruct", "-c", str(run), A, B]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4  # each input and its reconstruction
    assert main(["interpolate", "-c", str(run), A, B, "--steps", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--split", "valid", "--sentences", "11", "--iw-samples", "3",
                 "--diversity-samples", "5", "--no-quality", "--no-progress",
                 "--output", str(report)]) == 0
    figures = json.loads(report.read_text())
    assert len(figures["per_sentence"]["iw_nll_nats"]) == 11  # the subset asked for, each scored
    assert figures["likelihood"]["iw_nll_nats_per_sentence"] > 0 and "latent" in figures
    folder = tmp_path / "shared"
    assert main(["export", str(run), "--out", str(folder)]) == 0
    capsys.readouterr()
    assert load_config(folder / "config.yaml").model.decoder == "transformer"
    assert main(["sample", "-c", str(folder), "--n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
