"""`textvae encode`: sentences in, posterior means and log-variances out."""

import json

import numpy as np
import pytest
import torch

from textvae.api import load
from textvae.cli import main
from textvae.config import load_config
from textvae.train import train

SENTENCES = ["the dog ran .", "the cats sat ."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("encode") / "run"
    cfg = load_config(None, ["data.grammar_size=200", "model.embed_dim=11", "model.encoder_hidden_dim=13",
                             "model.decoder_hidden_dim=17", "model.latent_dim=7", "train.amp=off",
                             "train.max_steps=3", f"train.out_dir={out}"])
    train(cfg, progress=False, log=lambda m: None)
    return out


def _known(run_dir):
    """Two sentences in the tiny model's vocabulary (tokens of its own validation split)."""
    tv = load(run_dir, device="cpu")
    words = [w for w in tv.tokenizer.tokens[4:] if w.isalpha()][:5]
    return tv, [" ".join(words[:3]), " ".join(words[2:5])]


def test_encode_writes_json_lines_with_means_and_log_variances(run_dir, capsys):
    tv, sentences = _known(run_dir)
    assert main(["encode", "-c", str(run_dir), *sentences]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mu, logvar = tv.encode(sentences)
    assert [r["sentence"] for r in rows] == sentences
    assert torch.allclose(torch.tensor([r["mu"] for r in rows]), mu, atol=1e-6)
    assert torch.allclose(torch.tensor([r["logvar"] for r in rows]), logvar, atol=1e-6)


def test_encode_writes_npy_files(run_dir, tmp_path, capsys):
    tv, sentences = _known(run_dir)
    out = tmp_path / "codes.npy"
    assert main(["encode", "-c", str(run_dir), *sentences, "--out", str(out)]) == 0
    mu, logvar = tv.encode(sentences)
    assert np.load(out).shape == (2, 7)
    np.testing.assert_allclose(np.load(out), mu.numpy(), atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "codes.logvar.npy"), logvar.numpy(), atol=1e-6)
    assert "wrote posterior means (2, 7)" in capsys.readouterr().err


@pytest.mark.parametrize(("out", "message"), [("codes.csv", "give a .jsonl or a .npy file"),
                                              ("missing/codes.npy", "its directory does not exist")])
def test_encode_refuses_a_bad_output_before_loading(run_dir, tmp_path, capsys, out, message):
    assert main(["encode", "-c", str(tmp_path / "no-run"), "x", "--out", str(tmp_path / out)]) == 2
    assert message in capsys.readouterr().err
