"""``textvae evaluate``: the table, the JSON file, and one-line errors."""

import json
import os

import pytest

from textvae.cli import main
from textvae.text.training.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from textvae.text.run.config import load_config

    out = tmp_path_factory.mktemp("evalcli") / "run"
    cfg = load_config(None, [
        "data.grammar_size=200", "model.embed_dim=11", "model.encoder_hidden_dim=13",
        "model.decoder_hidden_dim=17", "model.latent_dim=7", "train.batch_size=7",
        "train.max_steps=3", f"train.out_dir={out}",
    ])
    train(cfg, progress=False, log=lambda m: None)
    return out


def test_evaluate_prints_a_table_and_writes_json(run_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "report.json"
    code = main(["evaluate", str(run_dir), "--split", "valid", "--iw-samples", "5",
                 "--diversity-samples", "7", "--no-quality", "--no-progress", "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "IW-NLL (K = 5)" in printed and "PPL per target token (words + eos)" in printed
    report = json.loads(out.read_text())
    assert report["settings"]["split"] == "valid" and report["settings"]["iw_samples"] == 5
    assert report["settings"]["sentences"] == 10  # 5% of 200: every sentence is evaluated
    assert report["likelihood"]["iw_nll_nats_per_sentence"] > 0
    assert "grammar_quality" not in report
    assert not list(out.parent.glob(".report.json.*"))  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal file's mode, not mkstemp's 0600


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: checkpoint not found") and err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path), "--iw-samples", "0"])


def test_sentences_evaluates_a_seeded_subset_shared_across_runs(run_dir, capsys):
    from textvae.text.evaluate.report import subset_indices

    picked = subset_indices(10, 3, seed=4)
    assert len(set(picked)) == 3 and picked == sorted(picked) and max(picked) < 10
    assert subset_indices(10, 3, seed=4) == picked  # the LM and the VAEs see the same sentences
    assert main(["evaluate", str(run_dir), "--split", "valid", "--iw-samples", "3",
                 "--sentences", "3", "--seed", "4", "--diversity-samples", "5", "--no-quality",
                 "--no-progress"]) == 0
    assert "3 sentences (a random subset of its 10, seed 4)" in capsys.readouterr().out
    reports = list(run_dir.rglob("eval-valid-k3-n3-seed4.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["settings"]["sentences"] == 3 and report["settings"]["split_sentences"] == 10
    assert report["per_sentence"]["split_index"] == picked
    per = report["per_sentence"]["iw_nll_nats"]
    assert len(per) == 3 and sum(per) / 3 == pytest.approx(
        report["likelihood"]["iw_nll_nats_per_sentence"], abs=1e-3)
    # N at or above the split's size evaluates everything, under the plain file name
    assert main(["evaluate", str(run_dir), "--split", "valid", "--iw-samples", "3",
                 "--sentences", "99", "--diversity-samples", "5", "--no-quality",
                 "--no-progress"]) == 0
    assert len(list(run_dir.rglob("eval-valid-k3.json"))) == 1
