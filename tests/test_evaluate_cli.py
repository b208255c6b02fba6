"""``textvae evaluate``: the table, the JSON file, and one-line errors."""

import json
import os

import pytest

from textvae.cli import main
from textvae.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from textvae.config import load_config

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
