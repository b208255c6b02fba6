"""The grammar-corpus quality report and its pure pieces."""

import dataclasses
import json

import pytest

from textvae.cli import main
from textvae.core.errors import TextVAEError
from textvae.text.api import NoLatentSpaceError, load
from textvae.text.evaluate.grammar_quality import (
    FACTORS,
    format_quality_report,
    grammar_quality_report,
)
from textvae.text.run.config import load_config
from textvae.text.training.train import train

SECTIONS = ("grammaticality", "reconstruction", "label_kept", "probe_accuracy", "probe_majority_baseline")
SMALL = {"n_samples": 11, "n_pairs": 3, "steps": 5, "n_test": 13, "max_len": 17}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("quality") / "run"
    cfg = load_config(None, [
        "data.grammar_size=300", "model.embed_dim=11", "model.encoder_hidden_dim=13",
        "model.decoder_hidden_dim=17", "model.latent_dim=7", "train.batch_size=7",
        "train.max_steps=30", f"train.out_dir={out}",
    ])
    train(cfg, progress=False, log=lambda m: None)
    return out


# ------------------------------------------------------------------------------------ pure pieces


def test_report_on_a_tiny_checkpoint_has_every_entry_in_range(run_dir):
    tv = load(run_dir, device="cpu")
    report = grammar_quality_report(tv, seed=3, **SMALL)
    assert set(report) == {"settings", *SECTIONS}
    assert set(report["grammaticality"]) == {
        "prior_standard_greedy", "prior_aggregate_greedy", "prior_standard_sample_t1",
        "homotopy_intermediates",
    }
    assert set(report["reconstruction"]) == {"exact_match", "token_accuracy"}
    for section in ("label_kept", "probe_accuracy", "probe_majority_baseline"):
        assert set(report[section]) == set(FACTORS)
    for section in SECTIONS:
        for key, value in report[section].items():
            assert 0.0 <= value <= 1.0, (section, key, value)
    assert report["settings"]["n_test"] == 13
    json.dumps(report)  # plain values only
    assert grammar_quality_report(tv, seed=3, **SMALL) == report  # seeded
    table = format_quality_report(report)
    assert "homotopy_intermediates" in table and "topic" in table and "%" in table


def test_report_needs_a_grammar_vae(run_dir):
    tv = load(run_dir, device="cpu")
    text_data = dataclasses.replace(tv.config.data, source="text", train_path="train.txt")
    tv.config = dataclasses.replace(tv.config, data=text_data)
    with pytest.raises(TextVAEError, match="grammar corpus.*'text'"):
        grammar_quality_report(tv, **SMALL)
    tv = load(run_dir, device="cpu")
    with pytest.raises(TextVAEError, match="steps"):
        grammar_quality_report(tv, **{**SMALL, "steps": 2})
    tv.model.is_vae = False  # what an LM baseline looks like to the report
    with pytest.raises(NoLatentSpaceError):
        grammar_quality_report(tv, **SMALL)


def test_quality_cli_prints_the_table_and_writes_json(run_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    argv = ["quality", "-c", str(run_dir), "--n-samples", "7", "--n-pairs", "2", "--steps", "3",
            "--n-test", "9", "--max-len", "13", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert printed.strip() == format_quality_report(report)
    assert report["settings"]["n_pairs"] == 2
