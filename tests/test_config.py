from pathlib import Path

import pytest

from textvae.cli import main
from textvae.config import Config, from_dict, load_config, parse_override, to_dict
from textvae.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def test_configs_dir_is_not_empty():
    assert sorted(CONFIG_DIR.glob("*.yaml")), "no YAML files in configs/"


def _is_text_config(path: Path) -> bool:
    # Image configs (`textvae image ...`) have their own schema; tests/image loads them.
    return "textvae image " not in path.read_text(encoding="utf-8").splitlines()[0]


@pytest.mark.parametrize(
    "path", [p for p in sorted(CONFIG_DIR.glob("*.yaml")) if _is_text_config(p)], ids=lambda p: p.name
)
def test_every_shipped_config_loads_and_opens_with_its_command(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#") and ("textvae " in first or "scripts/" in first), first
    assert path.name in first


def test_defaults_round_trip_through_dict():
    cfg = load_config(None, ["model.latent_dim=7", "train.kl.kind=cyclical"])
    assert from_dict(Config, to_dict(cfg)) == cfg


def test_overrides_are_typed():
    cfg = load_config(None, ["train.lr=3e-4", "model.bidirectional=true", "data.max_len=null"])
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.model.bidirectional is True
    assert cfg.data.max_len is None


def test_int_widens_to_float_but_not_the_reverse():
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0
    with pytest.raises(ConfigError, match="model.latent_dim: expected an integer"):
        load_config(None, ["model.latent_dim=7.5"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.hidden_size=3", "unknown key 'model.hidden_size'.*valid keys in section 'model'.*latent_dim"),
        ("modle.latent_dim=3", "unknown key 'modle'.*did you mean 'model'"),
        ("model.rnn_type=rnn", "model.rnn_type: invalid choice 'rnn'; valid choices: 'lstm', 'gru'"),
        ("model.bidirectional=3", "model.bidirectional: expected true/false"),
        ("train.batch_size=abc", "train.batch_size: expected an integer"),
        ("train.batch_size=0", "train.batch_size must be positive"),
        ("model.latent_dim=-3", "model.latent_dim must be positive"),
        ("train.kl=5", "train.kl: expected a section"),
        ("train.lr", "must look like key.path=value"),
    ],
)
def test_bad_configs_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=x=y") == (["a"], "x=y")


def test_cli_prints_one_line_without_traceback(capsys):
    assert main(["config", "--set", "model.rnn_type=transformer"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "textvae: error: model.rnn_type: invalid choice 'transformer'; valid choices: 'lstm', 'gru'"
    ]
    assert "Traceback" not in err


def test_cli_debug_shows_the_exception():
    with pytest.raises(ConfigError):
        main(["--debug", "config", "--set", "model.rnn_type=transformer"])
