"""Training labelled runs: M2, the supervised-only baseline, the conditional VAE, and resume."""

import json
from pathlib import Path

import pytest
import torch
from tiny import TINY_RUN, labelled_run

from textvae.core.errors import CheckpointError, ConfigError, DataError
from textvae.text.run.checkpoint import load_checkpoint
from textvae.text.run.config import load_config
from textvae.text.training.train import train
from textvae.text.training.train_labelled import LABELLED_INDICES_FILE, train_labelled


def _quiet(message: str) -> None:
    pass


def _weights(run_dir) -> dict:
    return load_checkpoint(run_dir).model_state


def test_m2_trains_saves_its_label_set_and_its_drawn_labels(tmp_path):
    cfg = labelled_run(tmp_path, "labels.labels_per_class=2", "train.max_steps=6", "train.eval_every=3")
    result = train_labelled(cfg, progress=False, log=_quiet)
    ckpt = load_checkpoint(result.run_dir)
    assert ckpt.meta["labels"] == {"colour": ["blue", "green", "red"]}
    drawn = json.loads((result.run_dir / LABELLED_INDICES_FILE).read_text())
    assert drawn["labels_per_class"] == 2 and len(drawn["indices"]) == 6
    assert 0.0 <= result.valid["accuracy"] <= 1.0 and result.valid["class_nll"] > 0
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r["split"] == "train" and r["kl"] > 0 for r in rows)


def test_the_supervised_baseline_trains_the_classifier_on_the_labelled_sentences_only(tmp_path):
    cfg = labelled_run(tmp_path, "train.max_steps=4", mode="classifier")
    lines = []
    result = train_labelled(cfg, progress=False, log=lines.append)
    assert "train: 31 sentences, 27 labelled" in lines  # read; then the 4 unlabelled are left out
    before = load_checkpoint(result.run_dir).model_state
    # The VAE's decoder is not trained: its weights are the initial ones of the seed.
    fresh = labelled_run(tmp_path / "again", "train.max_steps=1", mode="classifier")
    train_labelled(fresh, progress=False, log=_quiet)
    after_one = load_checkpoint(fresh.train.out_dir).model_state
    assert torch.equal(before["vae.output.weight"], after_one["vae.output.weight"])
    assert not torch.equal(before["classifier.to_logits.weight"], after_one["classifier.to_logits.weight"])


def test_resuming_a_semi_supervised_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    common = ("labels.labels_per_class=2", "train.checkpoint_every=3", "train.eval_every=5", "train.epochs=9")
    full = labelled_run(tmp_path / "full", *common, "train.max_steps=14")
    train_labelled(full, progress=False, log=_quiet)
    part = labelled_run(tmp_path / "part", *common, "train.max_steps=7")
    train_labelled(part, progress=False, log=_quiet)
    resumed = labelled_run(tmp_path / "part", *common, "train.max_steps=14")
    result = train_labelled(resumed, resume=True, progress=False, log=_quiet)
    assert result.step == 14
    a, b = _weights(full.train.out_dir), _weights(part.train.out_dir)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_conditional_run_on_grammar_factors(tmp_path):
    cfg = load_config(None, [*TINY_RUN, "labels.factors=[tense, mood, topic]", "labels.embed_dim=3",
                             "train.max_steps=5", "train.threads=1", f"train.out_dir={tmp_path / 'run'}"])
    result = train_labelled(cfg, progress=False, log=_quiet)
    labels = load_checkpoint(result.run_dir).meta["labels"]
    assert labels["tense"] == ["past", "present"] and len(labels["topic"]) == 4
    assert "accuracy" not in result.valid and result.valid["kl"] > 0


def test_a_conditional_run_refuses_a_file_labelled_in_part(tmp_path):
    cfg = labelled_run(tmp_path, "train.max_steps=2", mode="conditional")
    with pytest.raises(DataError, match="4 are not"):
        train_labelled(cfg, progress=False, log=_quiet)
    assert not (Path(cfg.train.out_dir) / "last").exists()


def test_labelled_configs_are_refused_where_they_cannot_work(tmp_path):
    cfg = labelled_run(tmp_path, "train.max_steps=2")
    with pytest.raises(ConfigError, match="train_labelled"):
        train(cfg, progress=False, log=_quiet)
    with pytest.raises(ConfigError, match="free_bits"):
        train_labelled(labelled_run(tmp_path, "train.free_bits=0.5"), progress=False, log=_quiet)
    with pytest.raises(ConfigError, match="^train.kl.kind target is the unlabelled text VAE's"):
        train_labelled(labelled_run(tmp_path, "train.kl.kind=target", "train.kl.target=2.5"),
                       progress=False, log=_quiet)
    with pytest.raises(ConfigError, match="^train.word_deletion is the unlabelled text VAE's"):
        train_labelled(labelled_run(tmp_path, "train.word_deletion=0.3"), progress=False,
                       log=_quiet)
    with pytest.raises(ConfigError, match="^train.valid_sentences is the unlabelled"):
        train_labelled(labelled_run(tmp_path, "train.valid_sentences=5"), progress=False,
                       log=_quiet)
    assert not (tmp_path / "run").exists()  # refused before the run directory
    with pytest.raises(ConfigError, match="infers one factor"):
        labelled_run(tmp_path, "labels.factors=[a, b]")


def test_best_is_the_checkpoint_with_the_lowest_validation_error(tmp_path):
    cfg = labelled_run(tmp_path, "train.max_steps=12", "train.eval_every=2", "train.early_stop_patience=null",
                       mode="classifier")
    result = train_labelled(cfg, progress=False, log=_quiet)
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    errors = [r["error"] for r in rows if r["split"] == "valid"]
    assert len(errors) >= 6
    best = load_checkpoint(result.run_dir / "best").meta["valid"]
    assert best["error"] == min(errors)


def test_a_labelled_run_can_start_from_another_and_not_from_an_unlabelled_one(tmp_path):
    """train.init_from reaches the labelled trainer too. A labelled model holds its VAE under
    ``vae.`` with label inputs, so it shares no tensor name with an unlabelled run: refused."""
    base = train_labelled(labelled_run(tmp_path / "base", "train.max_steps=3", mode="conditional",
                                       unlabelled=0), progress=False, log=_quiet).run_dir
    lines: list[str] = []
    cfg = labelled_run(tmp_path / "warm", "train.max_steps=1", f"train.init_from={base}",
                       mode="conditional", unlabelled=0)
    result = train_labelled(cfg, progress=False, log=lines.append)
    assert any(line.startswith(f"warm start from {base}: 18 tensors copied") for line in lines)
    assert load_checkpoint(result.run_dir).tokenizer.vocab_size == load_checkpoint(base).tokenizer.vocab_size
    unlabelled = tmp_path / "vae"
    train(load_config(None, [*TINY_RUN, "train.max_steps=1", f"train.out_dir={unlabelled}"]),
          progress=False, log=_quiet)
    cfg = labelled_run(tmp_path / "refused", "train.max_steps=1", f"train.init_from={unlabelled}",
                       mode="conditional", unlabelled=0)
    with pytest.raises(CheckpointError, match="shares no tensor name"):
        train_labelled(cfg, progress=False, log=_quiet)
    assert not (tmp_path / "refused" / "run" / "last").exists()
