"""`textvae encode`: sentences in, posterior means and log-variances out."""

import json

import numpy as np
import pytest
import torch
from tiny import train_tiny

from textvae.cli import main
from textvae.text.api import load

SENTENCES = ["the dog ran .", "the cats sat ."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("encode") / "run", "train.batch_size=32", "train.max_steps=3")


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


def test_decoding_flags_the_method_ignores_are_refused(run_dir, capsys):
    tv, sentences = _known(run_dir)
    ck = ["-c", str(run_dir)]
    for argv, message in [
        (["sample", *ck, "--beam-size", "3"],
         "--beam-size applies to --method beam; greedy decoding ignores it (leave --beam-size "
         "out, or use --method beam)"),
        (["sample", *ck, "--method", "sample", "--beam-size", "3"],
         "--beam-size applies to --method beam; sample decoding ignores it"),
        (["reconstruct", *ck, sentences[0], "--top-k", "3"],
         "--top-k applies to --method sample; greedy decoding ignores it"),
        (["interpolate", *ck, *sentences, "--method", "beam", "--temperature", "0.5"],
         "--temperature applies to --method sample; beam decoding ignores it"),
        (["analogy", *ck, *sentences, sentences[0], "--top-p", "0.9"],
         "--top-p applies to --method sample; greedy decoding ignores it"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"textvae: error: {message}") and err.count("\n") == 1
    # refused before the minutes of loading a model (here, one that does not exist)
    assert main(["reconstruct", "-c", str(run_dir / "missing"), "x", "--top-k", "3"]) == 2
    assert "--top-k applies to --method sample" in capsys.readouterr().err
    # the flags their method reads, and every default, pass
    assert main(["sample", *ck, "--n", "2", "--method", "sample", "--top-k", "3",
                 "--temperature", "0.5"]) == 0
    assert main(["sample", *ck, "--n", "2", "--method", "beam", "--beam-size", "2"]) == 0
    assert main(["reconstruct", *ck, sentences[0], "--method", "beam"]) == 0


def test_the_first_aggregate_prior_sample_says_it_fits_and_saves_the_prior(run_dir, tmp_path,
                                                                           capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)
    argv = ["sample", "-c", str(run), "--prior", "aggregate", "--n", "2"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2  # stdout holds only the samples
    first, second = err.splitlines()
    assert first.startswith("fitting the aggregate prior to ")
    assert first.endswith(f"training sentences (once; saved in {(run / 'last').resolve()})...")
    assert second.startswith("fitted the aggregate prior in ")
    assert second.endswith(" s")
    assert main(argv) == 0  # read back: nothing to fit, nothing said
    assert capsys.readouterr().err == ""
    # the library reports only to a log it is given
    tv = load(run, device="cpu")
    heard = []
    tv.fit_aggregate_prior(3, save=False)
    assert capsys.readouterr() == ("", "")
    tv.fit_aggregate_prior(3, save=False, log=heard.append)
    assert heard[0].endswith("training sentences (kept in memory only)...") and len(heard) == 2
