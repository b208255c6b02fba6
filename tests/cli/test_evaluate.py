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


@pytest.fixture(scope="module")
def lm_runs(run_dir, tmp_path_factory):
    """LM runs beside ``run_dir``: on the same config (same data, so the same vocabulary), on
    other data with ``run_dir``'s tokenizer, and on other data with its own."""
    from tiny import train_tiny

    root = tmp_path_factory.mktemp("evalcli-lms")
    lm = ["model.model_type=lm", "train.max_steps=3", "model.embed_dim=11",
          "model.decoder_hidden_dim=17", "train.amp=auto"]
    return {
        "same": train_tiny(root / "same", *lm),
        "from_run": train_tiny(root / "from_run", *lm, "data.grammar_size=300",
                               f"data.tokenizer.from_run={run_dir}"),
        "other": train_tiny(root / "other", *lm, "data.grammar_size=300"),
    }


def test_evaluate_with_a_reference_lm_and_reverse_perplexity(run_dir, lm_runs, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["evaluate", str(run_dir), "--split", "valid", "--iw-samples", "3",
                 "--diversity-samples", "7", "--no-quality", "--no-progress",
                 "--reference-lm", str(lm_runs["same"]), "--reverse-ppl", "5",
                 "--reverse-ppl-steps", "2", "--train-sentences", "9",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in ("reconstruction of 9 training sentences (a subset drawn with seed 0",
                 "ends decoded to their own sentences", "forward PPL of the 80 points (ref. LM)",
                 "fluency under the reference LM", "forward PPL of the 7 prior samples",
                 "its PPL of the valid split (real)", "reverse perplexity: the valid split's PPL",
                 "LM trained on 5 prior samples", "LM trained on 5 training sentences"):
        assert line in printed, line
    report = json.loads(out.read_text())
    assert report["settings"]["reference_lm"] == str((lm_runs["same"] / "best").resolve())
    assert report["reconstruction_train"]["sentences"] == 9
    assert report["reconstruction_train"]["split_sentences"] == 180  # 90% of 200
    assert report["fluency"]["samples_forward_ppl_per_token_incl_eos"] > 1
    assert report["homotopy"]["interior_forward_ppl_per_token_incl_eos"] > 1
    assert report["reverse_ppl"]["real_sentences"] == 5
    assert {"fluency_seconds", "reverse_ppl_seconds"} <= set(report["timing"])


def test_a_reference_lm_must_be_an_lm_with_the_same_vocabulary(run_dir, lm_runs, capsys,
                                                               monkeypatch):
    import textvae.text.evaluate.report
    from textvae.text.api import load
    from textvae.text.evaluate.fluency import load_reference_lm

    # Refused before any evaluation, in one line.
    monkeypatch.setattr(textvae.text.evaluate.report, "evaluate_split",
                        lambda *a, **k: pytest.fail("the evaluation ran"))
    for reference, message in ((run_dir, "is not a language model (model.model_type: vae)"),
                               (lm_runs["other"], "has another vocabulary than the evaluated "
                                                  "model")):
        assert main(["evaluate", str(run_dir), "--reference-lm", str(reference),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"textvae: error: --reference-lm {reference} {message}"), err
        assert err.count("\n") == 1
    # Trained on other data with the run's tokenizer (data.tokenizer.from_run): accepted.
    load_reference_lm(lm_runs["from_run"], load(run_dir, device="cpu"))


def test_training_sentences_are_not_reconstructed_when_the_split_is_train(run_dir, tmp_path):
    out = tmp_path / "train.json"
    assert main(["evaluate", str(run_dir), "--split", "train", "--sentences", "5",
                 "--iw-samples", "3", "--diversity-samples", "5", "--no-quality",
                 "--no-progress", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "reconstruction" in report and "reconstruction_train" not in report


def test_a_labelled_run_refuses_the_sample_quality_flags(tmp_path, capsys, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr("textvae.text.api.load",
                        lambda *a, **k: SimpleNamespace(path=tmp_path, label_set=None))
    assert main(["evaluate", str(tmp_path), "--reverse-ppl", "3", "--train-sentences", "0"]) == 2
    assert capsys.readouterr().err.startswith(
        "textvae: error: --reverse-ppl, --train-sentences: a labelled run's evaluation has no "
        "such figures")


def test_prior_samples_from_the_aggregate_prior_and_by_sampling(run_dir, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, symlinks=True)  # the fit is saved into the checkpoint
    reports = {}
    for name, flags in (("standard", []), ("aggregate", ["--prior", "aggregate"]),
                        ("sampled", ["--prior", "aggregate", "--method", "sample"])):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", str(run), "--split", "valid", "--iw-samples", "3",
                     "--diversity-samples", "9", "--no-quality", "--no-progress", *flags,
                     "--output", str(out)]) == 0
        reports[name] = json.loads(out.read_text())["diversity"]
    capsys.readouterr()
    assert reports["standard"]["decoding"] == "greedy from z ~ N(0, I)"
    assert reports["aggregate"]["decoding"] == "greedy from z from the aggregate prior"
    assert reports["sampled"]["decoding"] == "sample from z from the aggregate prior"
    assert list((run / "best").resolve().glob("aggregate_prior*"))  # fitted once, kept


def test_compare_pairs_a_vae_and_an_lm_on_the_same_sentences(run_dir, lm_runs, tmp_path, capsys):
    reports = {}
    for name, run, seed in (("vae", run_dir, 5), ("lm", lm_runs["same"], 5),
                            ("lm_other", lm_runs["same"], 6)):
        reports[name] = tmp_path / f"{name}.json"
        assert main(["evaluate", str(run), "--split", "valid", "--iw-samples", "4",
                     "--sentences", "7", "--seed", str(seed), "--diversity-samples", "5",
                     "--train-sentences", "0", "--no-quality", "--no-progress",
                     "--output", str(reports[name])]) == 0
    capsys.readouterr()
    assert main(["compare", str(reports["vae"]), str(reports["lm"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    vae, lm = (json.loads(reports[n].read_text())["per_sentence"]["iw_nll_nats"]
               for n in ("vae", "lm"))
    gap = sum(a - b for a, b in zip(vae, lm, strict=True)) / 7
    assert lines[0].startswith(f"A: {sum(vae) / 7:.2f} nats/sentence (IW-NLL, K = 4)  ")
    assert lines[1].startswith(f"B: {sum(lm) / 7:.2f} nats/sentence (exact NLL)  ")
    assert lines[2].startswith(f"A - B, paired over 7 valid sentences: {gap:+.2f} ± ")
    # Another seed drew other sentences: refused in one line, nothing printed on stdout.
    assert main(["compare", str(reports["vae"]), str(reports["lm_other"])]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("textvae: error: the two reports scored different "
                                        "sentences")
    assert main(["compare", str(run_dir), str(reports["lm"])]) == 2
    assert "is a folder: give one of the eval-*.json reports" in capsys.readouterr().err
