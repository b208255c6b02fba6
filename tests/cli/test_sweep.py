"""``textvae sweep``: one tiny sweep end to end (every output written and well-formed, a rerun
that trains and evaluates nothing), and bad input refused in one line before any training."""

import json
import re

import pytest
import yaml

from textvae.cli import main
from textvae.text.run.config import load_config

pytestmark = pytest.mark.usefixtures("one_thread")

# Odd, distinct sizes (tests/tiny.py); a few steps per point, whatever the minutes say.
# The `text` recipe ties the output layer to the embedding: untied here, so that the sizes differ.
TINY = ["model.embed_dim=11", "model.encoder_hidden_dim=13", "model.decoder_hidden_dim=17",
        "model.tie_embeddings=false",
        "model.latent_dim=7", "train.batch_size=7", "train.max_steps=5", "train.amp=off",
        "train.threads=1", "train.log_every=4"]
POINTS = ["lm", "rate3_del0", "rate3_del0.3", "rate9_del0", "rate9_del0.3"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep") / "grammar"
    assert main(["data", "grammar", "--n", "301", "--out", str(folder)]) == 0
    return folder


def sweep_args(corpus, out, *extra):
    args = ["sweep", "--train", str(corpus / "train.txt"), "--valid", str(corpus / "valid.txt"),
            "--out", str(out), "--minutes", "1", "--rates", "3,9", "--deletion", "0,0.3",
            "--iw-samples", "5", "--eval-sentences", "11", "--diversity-samples", "13",
            "--prior", "aggregate", "--method", "sample", "--no-progress", *extra]
    for override in TINY:
        args += ["--set", override]
    return args


@pytest.mark.slow
def test_a_tiny_sweep_writes_every_output_and_a_rerun_trains_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(sweep_args(corpus, out)) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("sweep of 5 points, 1 min of training: 0.2 min per point")
    assert re.search(r"^\[1/5\] lm: training", printed, re.M)
    assert "[5/5] rate9_del0.3: evaluated in" in printed
    assert "recommended for interpolation:" in printed and "recommended for likelihood:" in printed

    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["arguments"]["rates"] == [3.0, 9.0]
    rows = sweep["points"]
    assert [row["name"] for row in rows] == POINTS
    for row in rows:
        assert row["eval_sentences"] == 11 and row["train_steps"] == 5
        assert row["train_seconds"] > 0 and row["eval_seconds"] > 0
        assert row["command"].startswith("textvae train --config ")
        assert row["self_bleu"] is not None and row["samples_forward_ppl"] > 0
    lm, vaes = rows[0], rows[1:]
    assert lm["model_type"] == "lm" and lm["samples_forward_ppl_vs_lm_samples"] == 1.0
    for row in vaes:
        assert row["model_type"] == "vae" and row["kl_nats"] >= 0
        assert row["nll_gap_se_nats"] > 0 and 0 <= row["recon_bleu"] <= 100
        assert 0 <= row["homotopy_changed_share"] <= 1 and row["train_recon_bleu"] is not None
    assert vaes[3]["overrides"] == ["model.model_type=vae", "train.kl.kind=target",
                                    "train.kl.target=9", "train.kl.anneal_fraction=null",
                                    "train.word_deletion=0.3"]
    for name in POINTS:
        report = json.loads((out / "points" / name / "evaluation.json").read_text())
        assert report["settings"]["split"] == "valid" and report["settings"]["sentences"] == 11
        assert "fluency" in report  # under the sweep's LM (the LM under itself)
        assert report["diversity"]["decoding"] == ("ancestral sampling, T = 1" if name == "lm"
                                                   else "sample from z from the aggregate prior")
    assert (out / "rate_distortion.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page = (out / "report.html").read_text()
    assert 'src="data:image/png;base64,' in page and all(name in page for name in POINTS)
    for job in ("interpolation", "likelihood"):
        chosen = sweep["recommended"][job]["name"]
        path = out / "recommended" / f"{job}.yaml"
        text = path.read_text()
        assert text.startswith(f"# textvae train --config {path}")
        cfg = load_config(str(path))  # loads as `textvae train --config` would
        point = yaml.safe_load((out / "points" / chosen / "config.yaml").read_text())
        assert cfg.train.kl.target == point["train"]["kl"]["target"]
        assert cfg.train.out_dir == f"runs/train_{job}"  # a new run directory, not the point's
        assert cfg.data.tokenizer.from_run == str((out / "points" / "lm").resolve())

    saved = {p: p.stat().st_mtime_ns for p in out.glob("points/*/checkpoints/*/*")}
    assert main(sweep_args(corpus, out)) == 0
    again = capsys.readouterr().out
    assert again.count("evaluated already, skipped") == 5
    assert not re.search(r"^\[\d/5\] \S+: (training|resuming|trained)", again, re.M)
    assert {p: p.stat().st_mtime_ns for p in out.glob("points/*/checkpoints/*/*")} == saved
    assert json.loads((out / "sweep.json").read_text())["points"] == rows

    assert main(sweep_args(corpus, out, "--seed", "3")) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: ") and "--seed (saved 0, asked 3)" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("change, message", [
    (["--train", "missing.txt"], "--train missing.txt: no such file"),
    (["--rates", "3,0"], "argument --rates: each of rates"),
    (["--deletion", "0,1"], "argument --deletion: each of deletion probabilities"),
    (["--train", "empty.txt"], "contains no sentences"),
    (["--set", "train.kl.target=5"], "the sweep sets train.kl.target"),
    (["--set", "train.nope=5"], "unknown key 'train.nope'"),
])
def test_bad_input_fails_in_one_line_before_any_work(tmp_path, monkeypatch, capsys, change,
                                                     message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.txt").write_text("the owls barked .\nthe frogs sang .\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    args = ["sweep", "--train", "train.txt", "--out", "out", *change]
    if change[0] in ("--rates", "--deletion"):  # argparse's own: the parser exits
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
    else:
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()

