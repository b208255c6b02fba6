"""The sweep's points, its argument parsers and each point's config (pure)."""

import pytest

from textvae.core.errors import ConfigError, InputError
from textvae.text.run.config import Config, from_dict
from textvae.text.sweep.grid import (
    LM_NAME,
    SweepSpec,
    check_overrides,
    grid,
    parse_deletions,
    parse_rates,
    point_name,
)

TINY = {"model": {"embed_dim": 11, "latent_dim": 7}, "train": {"batch_size": 5}}


def spec(**changes):
    fields = dict(train_path="/data/train.txt", valid_path=None, digests={"train": "abc"},
                  config=None, overrides=[], base=TINY, rates=(3.0, 11.0),
                  deletions=(0.0, 0.3), minutes=35.0)
    fields.update(changes)
    return SweepSpec(**fields)


def test_the_lm_comes_first_then_every_rate_with_every_deletion():
    points = grid((3.0, 11.0, 37.5), (0.0, 0.3))
    assert [p.name for p in points] == [LM_NAME, "rate3_del0", "rate3_del0.3", "rate11_del0",
                                        "rate11_del0.3", "rate37.5_del0", "rate37.5_del0.3"]
    assert points[0].is_lm and points[0].rate is None
    assert (points[4].rate, points[4].deletion) == (11.0, 0.3)
    assert point_name(10.0, 0.25) == "rate10_del0.25"


def test_the_budget_is_split_evenly_across_the_points():
    s = spec()
    assert len(s.points) == 5  # the LM and 2 x 2 VAEs
    assert s.minutes_per_point == pytest.approx(7.0)


@pytest.mark.parametrize("text, expected", [
    ("3,10,30", (3.0, 10.0, 30.0)), (" 0.5 , 7 ", (0.5, 7.0)), ("5", (5.0,)),
])
def test_rates_parse(text, expected):
    assert parse_rates(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "comma-separated"), ("3,,10", "comma-separated"), ("3,x", "'x'"),
    ("0,3", "must be > 0"), ("-1", "must be > 0"), ("10,10.0", "twice"),
])
def test_bad_rates_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rates(text)


def test_deletions_are_probabilities_below_one():
    assert parse_deletions("0,0.3") == (0.0, 0.3)
    for bad in ("1", "-0.1", "0.3,1.5"):
        with pytest.raises(ValueError, match=">= 0 and < 1"):
            parse_deletions(bad)


def test_keys_the_sweep_sets_cannot_be_overridden():
    check_overrides(["train.lr=3e-4", "model.latent_dim=7"])
    with pytest.raises(InputError, match=r"sets train\.kl\.target .*--rates"):
        check_overrides(["train.lr=3e-4", "train.kl.target=5"])
    with pytest.raises(InputError, match="--deletion"):
        check_overrides(["train.word_deletion=0.1"])


def test_point_configs_are_whole_valid_configs():
    s = spec()
    lm, vae = s.points[0], s.points[4]  # rate11_del0.3
    lm_cfg = s.point_config(lm, run_dir="/out/points/lm", lm_dir="/out/points/lm")
    vae_cfg = s.point_config(vae, run_dir="/out/points/v", lm_dir="/out/points/lm")
    for cfg in (lm_cfg, vae_cfg):
        from_dict(Config, cfg)  # loads as it stands: every key present and valid
        assert cfg["data"]["source"] == "text" and cfg["data"]["train_path"] == "/data/train.txt"
        assert cfg["model"]["embed_dim"] == 11 and cfg["train"]["batch_size"] == 5  # the base
        assert cfg["train"]["max_minutes"] == pytest.approx(7.0)
    assert lm_cfg["model"]["model_type"] == "lm" and lm_cfg["data"]["tokenizer"]["from_run"] is None
    assert lm_cfg["train"]["word_deletion"] == 0.0
    assert vae_cfg["model"]["model_type"] == "vae"
    assert vae_cfg["train"]["kl"]["kind"] == "target" and vae_cfg["train"]["kl"]["target"] == 11.0
    assert vae_cfg["train"]["kl"]["anneal_fraction"] is None
    assert vae_cfg["train"]["word_deletion"] == 0.3
    assert vae_cfg["data"]["tokenizer"]["from_run"] == "/out/points/lm"
    assert vae_cfg["train"]["out_dir"] == "/out/points/v"


def test_a_base_recipe_with_deletion_is_turned_off_where_a_point_has_none():
    s = spec(base={"train": {"word_deletion": 0.5}})
    assert s.points[1].overrides(base_sets_deletion=True)[-1] == "train.word_deletion=0"
    cfg = s.point_config(s.points[1], run_dir="/r", lm_dir="/l")
    assert cfg["train"]["word_deletion"] == 0.0
    assert s.point_config(s.points[0], run_dir="/r", lm_dir="/l")["train"]["word_deletion"] == 0.0


def test_an_unknown_key_in_the_base_is_a_config_error():
    with pytest.raises(ConfigError, match="nope"):
        spec(base={"train": {"nope": 1}}).point_config(grid((3.0,), (0.0,))[1], run_dir="/r",
                                                      lm_dir="/l")


def test_differences_name_each_argument_and_base_key():
    saved = spec().to_json()
    assert spec().differences(saved) == []
    changed = spec(rates=(3.0,), minutes=17.0,
                   base={**TINY, "train": {"batch_size": 9}}).differences(saved)
    assert "--rates (saved [3.0, 11.0], asked [3.0])" in changed
    assert "--minutes (saved 35.0, asked 17.0)" in changed
    assert "config key train.batch_size (saved 5, asked 9)" in changed
    assert len(changed) == 3
    assert spec(digests={"train": "def"}).differences(saved) == [
        "the corpus files' content (saved {'train': 'abc'}, asked {'train': 'def'})"]
