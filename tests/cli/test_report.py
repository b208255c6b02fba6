"""``textvae plot`` and ``textvae report``: thin wrappers over textvae.text.viz."""

import re

import pytest
from tiny import train_tiny

from textvae.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("one_thread")

# A tiny grammar run (odd, distinct sizes): 25 validation sentences, 23 of them pictured.
TINY = ["data.grammar_size=500", "train.log_every=3", "train.eval_every=9", "train.amp=auto"]
SENTENCES = "23"


def _train(out, *overrides):
    return train_tiny(out, *TINY, *overrides)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("cli-vae") / "run", "train.max_steps=13")


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, one_thread):
    return _train(tmp_path_factory.mktemp("cli-lm") / "run", "model.model_type=lm",
                  "train.max_steps=5")


def wrote(out):
    return re.findall(r"^wrote (.+)$", out, re.M)


def test_plot_writes_into_the_run_by_default(vae_run, capsys):
    assert main(["plot", str(vae_run), "--sentences", SENTENCES, "--device", "cpu"]) == 0
    paths = wrote(capsys.readouterr().out)
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        "curves.png", "loss_terms.png", "kl_vs_weight.png", "latent_pca.png", "kl_per_dim.png"]
    assert all(p.startswith(str(vae_run / "plots")) for p in paths)


def test_plot_of_an_lm_run_says_curves_only(lm_run, tmp_path, capsys):
    out = tmp_path / "lm-plots"
    assert main(["plot", str(lm_run / "last"), "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert wrote(printed) == [str(out / "curves.png")]
    assert "note: an LM baseline" in printed


def test_plot_of_a_checkpoint_away_from_its_run_needs_out(vae_run, tmp_path, capsys):
    import shutil

    alone = tmp_path / "alone"
    shutil.copytree((vae_run / "last").resolve(), alone)
    assert main(["plot", str(alone)]) == 2
    assert "--out DIR" in capsys.readouterr().err


def test_report_writes_one_html_file(vae_run, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(vae_run), "--out", str(out), "--sentences", SENTENCES,
                 "--samples", "3", "--reconstructions", "5", "--device", "cpu"]) == 0
    assert wrote(capsys.readouterr().out) == [str(out)]
    text = out.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 5
    assert list(tmp_path.iterdir()) == [out]  # no pictures or temporary files left beside it


def test_report_refuses_a_missing_directory_before_any_work(tmp_path, monkeypatch, capsys):
    import textvae.text.viz.page

    def no_work(*args, **kwargs):
        raise AssertionError("the report was started")

    monkeypatch.setattr(textvae.text.viz.page, "write_report", no_work)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "no" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: cannot write --out") and "does not exist" in err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    assert "no run or checkpoint" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html"), "--steps", "1"]) == 2


def test_the_parsers_and_their_defaults():
    from textvae.text.viz.run import DEFAULT_SENTENCES

    args = build_parser().parse_args(["report", "RUN", "--out", "r.html"])
    assert (args.sentences, args.samples, args.reconstructions, args.steps) == (
        DEFAULT_SENTENCES, 10, 8, 7)
    assert build_parser().parse_args(["plot", "RUN"]).out is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "RUN", "--out", "r.html", "--samples", "-1"])


def test_report_shows_what_textvae_evaluate_wrote_into_the_checkpoint(vae_run, tmp_path, capsys):
    assert main(["evaluate", str(vae_run), "--split", "valid", "--iw-samples", "3",
                 "--diversity-samples", "5", "--train-sentences", "7", "--no-quality",
                 "--no-progress", "--device", "cpu"]) == 0
    capsys.readouterr()
    out = tmp_path / "report.html"
    assert main(["report", str(vae_run), "--out", str(out), "--sentences", SENTENCES,
                 "--samples", "2", "--reconstructions", "2", "--interpolations", "0",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    assert "<h3>eval-valid-k3.json</h3>" in text
    assert "reconstruction of 7 training sentences" in text
    assert "ends decoded to their own sentences" in text
    # --evaluation names the reports instead: here one that is none is refused in one line.
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["report", str(vae_run), "--out", str(tmp_path / "r2.html"), "--evaluation",
                 str(bad), "--device", "cpu", "--sentences", SENTENCES]) == 2
    err = capsys.readouterr().err  # before any work: no progress lines
    assert err.startswith(f"textvae: error: {bad} is not a readable `textvae evaluate` report")
    assert err.count("\n") == 1
