"""What a sweep checks before it trains: a folder of another sweep is refused, naming each
argument that differs; one of the same sweep is continued."""

import json

import pytest

from textvae.core.errors import ConfigError, InputError
from textvae.text.sweep.grid import SweepSpec
from textvae.text.sweep.run import SWEEP_FILE, plan_lines, prepare_sweep, read_state


def spec(**changes):
    fields = dict(train_path="/data/train.txt", valid_path="/data/valid.txt",
                  digests={"train": "abc", "valid": "def"}, config=None,
                  overrides=["model.latent_dim=7"], base={"model": {"latent_dim": 7}},
                  rates=(3.0, 13.0), deletions=(0.0,), minutes=9.0, iw_samples=5)
    fields.update(changes)
    return SweepSpec(**fields)


def test_a_new_folder_records_the_arguments_and_gets_every_point_config(tmp_path):
    out = tmp_path / "sweep"
    configs = prepare_sweep(spec(), out)
    assert list(configs) == ["lm", "rate3_del0", "rate13_del0"]
    saved = json.loads((out / SWEEP_FILE).read_text())
    assert saved["arguments"] == spec().to_json() and saved["points"] == []
    lm_dir = str((out / "points" / "lm").resolve())
    assert configs["rate13_del0"]["data"]["tokenizer"]["from_run"] == lm_dir
    assert configs["lm"]["train"]["out_dir"] == lm_dir
    assert prepare_sweep(spec(), out) == configs  # the same arguments: continued


def test_a_folder_made_with_other_arguments_is_refused(tmp_path):
    out = tmp_path / "sweep"
    prepare_sweep(spec(), out)
    before = (out / SWEEP_FILE).read_text()
    with pytest.raises(InputError) as err:
        prepare_sweep(spec(rates=(3.0,), iw_samples=11), out)
    message = str(err.value)
    assert "holds a sweep made with other arguments" in message
    assert "--rates (saved [3.0, 13.0], asked [3.0])" in message
    assert "--iw-samples (saved 5, asked 11)" in message
    assert (out / SWEEP_FILE).read_text() == before  # nothing rewritten


def test_a_folder_with_other_files_is_refused_and_a_bad_config_leaves_nothing(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds files but no sweep.json"):
        prepare_sweep(spec(), tmp_path / "busy")
    with pytest.raises(ConfigError, match="latent_dimm"):
        prepare_sweep(spec(base={"model": {"latent_dimm": 7}}), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    (tmp_path / "torn").mkdir()
    (tmp_path / "torn" / SWEEP_FILE).write_text("{not json")
    with pytest.raises(InputError, match="is not a sweep's record"):
        prepare_sweep(spec(), tmp_path / "torn")


def test_the_plan_names_every_point_and_warns_of_short_budgets():
    lines = plan_lines(spec())
    assert lines[0].startswith("sweep of 3 points, 9 min of training: 3.0 min per point")
    assert "evaluation takes time on top" in lines[0]
    assert "rate13_del0" in lines[3] and "13 nats" in lines[3]
    assert not any(line.startswith("warning") for line in lines)
    assert plan_lines(spec(minutes=3.0))[-1].startswith("warning: 1.0 min per point is short")


def test_a_point_without_a_clock_starts_untrained(tmp_path):
    state = read_state(tmp_path)
    assert (state.train_seconds, state.trained) == (0.0, False)
