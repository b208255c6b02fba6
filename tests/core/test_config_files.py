"""Shipped configs are package data, found by name from any folder."""

import pytest

from textvae.core.config_files import resolve_config_path, shipped_configs, shipped_dir
from textvae.core.errors import ConfigError
from textvae.text.run.config import load_config


@pytest.mark.parametrize("spelling", ["quickstart", "quickstart.yaml", "configs/quickstart.yaml"])
def test_a_shipped_config_resolves_by_name_from_an_empty_folder(tmp_path, monkeypatch, spelling):
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(spelling) == shipped_dir() / "quickstart.yaml"
    assert load_config(spelling).train.out_dir == "runs/quickstart"


def test_a_file_that_exists_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart.yaml").write_text("train:\n  out_dir: runs/mine\n  lr: 3.0e-4\n")
    assert load_config("quickstart.yaml").train.lr == 3e-4
    assert load_config("quickstart").train.out_dir == "runs/quickstart"  # a bare name is shipped


def test_an_unknown_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file not found: quickstrat .*quickstart, "):
        load_config("quickstrat")
    with pytest.raises(ConfigError, match="config file not found: elsewhere/quickstart.yaml"):
        load_config("elsewhere/quickstart.yaml")  # another folder is a path, never a name


def test_every_shipped_config_loads_and_describes_itself():
    configs = shipped_configs()
    assert {"quickstart", "text", "ptb_bowman", "mnist_vae"} <= set(configs)
    for name, description in configs.items():
        assert description and not description.startswith("textvae "), name
        assert len(description) <= 100, name
    assert configs["ptb_bowman"] == "Bowman et al. 2016 on Penn Treebank (Mikolov's LM version)."
    for name in ("quickstart", "quickstart_recon"):
        assert load_config(name).train.amp == "auto", name
    own = load_config("text")  # the file comes from --train FILE or train(train_sentences=...)
    assert (own.train.amp, own.data.valid_fraction, own.train.kl.kind, own.train.kl.target) == \
        ("auto", 0.1, "target", 40.0)
