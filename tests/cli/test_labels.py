"""`textvae classify`, `transfer`, `sample --label`, `evaluate` of a labelled run, and `probe`."""

import json
import math

import pytest
from tiny import labelled_run, train_tiny, write_labelled_tsv

from textvae.cli import main
from textvae.text.training.train_labelled import train_labelled

SENTENCES = ["the apple rose .", "a sky whale ."]


@pytest.fixture(scope="module")
def m2_run(tmp_path_factory):
    cfg = labelled_run(tmp_path_factory.mktemp("m2"), "labels.labels_per_class=2", "train.max_steps=6")
    return train_labelled(cfg, progress=False, log=lambda message: None).run_dir


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("plain") / "run", "train.max_steps=2")


def test_classify_prints_each_sentences_class_probabilities(m2_run, capsys):
    assert main(["classify", "-c", str(m2_run), "--format", "jsonl", *SENTENCES]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["sentence"] for r in rows] == SENTENCES
    for row in rows:
        probs = row["probabilities"]["colour"]
        assert sorted(probs) == ["blue", "green", "red"]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["labels"]["colour"] == max(probs, key=probs.get)
    assert main(["classify", "-c", str(m2_run), SENTENCES[0]]) == 0
    assert capsys.readouterr().out.startswith(f"> {SENTENCES[0]}\n  colour: ")


def test_sample_with_a_label_and_a_bad_label(m2_run, capsys):
    assert main(["sample", "-c", str(m2_run), "--label", "colour=red", "--n", "3", "--format", "jsonl",
                 "--no-progress"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and rows[0]["settings"]["label"] == ["colour=red"]
    assert main(["sample", "-c", str(m2_run), "--label", "colour=purple", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "unknown label colour=purple" in err and "blue, green, red" in err
    assert main(["sample", "-c", str(m2_run), "--label", "shade=red"]) == 2
    assert "unknown label factor 'shade'; this model knows: colour" in capsys.readouterr().err


def test_label_commands_refuse_an_unlabelled_run(plain_run, capsys):
    assert main(["sample", "-c", str(plain_run), "--label", "tense=past"]) == 2
    assert "is not a labelled run" in capsys.readouterr().err
    assert main(["classify", "-c", str(plain_run), "the dog ran ."]) == 2
    assert "is not a labelled run" in capsys.readouterr().err


def test_transfer_changes_the_label_and_needs_one(m2_run, capsys):
    assert main(["transfer", "-c", str(m2_run), "--label", "colour=blue", "--format", "jsonl", *SENTENCES]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == SENTENCES and all(isinstance(r["output"], str) for r in rows)
    assert main(["transfer", "-c", str(m2_run), *SENTENCES]) == 2
    assert "--label FACTOR=VALUE" in capsys.readouterr().err


def test_evaluate_a_labelled_run_reports_accuracy_and_the_bound(m2_run, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["evaluate", str(m2_run), "--split", "valid", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["sentences"] == 9 and report["mode"] == "semi_supervised"
    row = report["classification"]["colour"]
    assert row["accuracy"] + row["error"] == pytest.approx(1.0)
    bound = report["bound_given_labels"]
    assert bound["neg_labelled_elbo"] == pytest.approx(bound["neg_elbo"] + math.log(3))
    assert "classification of colour: accuracy" in capsys.readouterr().out


def test_probe_fits_on_a_draw_and_scores_the_evaluation_file(plain_run, tmp_path, capsys):
    labelled = write_labelled_tsv(tmp_path / "l.tsv", per_class=5, unlabelled=0)
    scored = write_labelled_tsv(tmp_path / "e.tsv", per_class=3, unlabelled=0, seed=4)
    assert main(["probe", "-c", str(plain_run), "--labelled", str(labelled), "--eval", str(scored),
                 "--labels-per-class", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["labelled"] == 9 and result["evaluated"] == 9
    assert 0.0 <= result["accuracy"] <= 1.0 and result["error"] == pytest.approx(1 - result["accuracy"])


def test_textvae_train_takes_a_labels_section_and_ends_with_samples_per_value(tmp_path, capsys):
    train_file = write_labelled_tsv(tmp_path / "train.tsv", unlabelled=0)
    config = tmp_path / "cvae.yaml"
    config.write_text(
        f"data: {{source: text, train_path: {train_file}, valid_fraction: 0.2, tokenizer: {{kind: word}}}}\n"
        "model: {embed_dim: 11, encoder_hidden_dim: 13, decoder_hidden_dim: 17, latent_dim: 7}\n"
        "labels: {factors: [colour], mode: conditional, embed_dim: 3}\n"
        f"train: {{max_steps: 3, batch_size: 7, amp: 'off', threads: 1, out_dir: {tmp_path / 'run'}}}\n",
        encoding="utf-8")
    assert main(["train", "--config", str(config), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "samples from N(0, I) with each colour:" in out
    assert sum(line.startswith("  colour=") for line in out.splitlines()) == 6  # 2 for each of 3
