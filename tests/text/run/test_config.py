import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from textvae.cli import main
from textvae.core.config_files import parse_override
from textvae.core.errors import ConfigError
from textvae.text.run.config import Config, from_dict, load_config, to_dict

CONFIG_DIR = Path(__file__).resolve().parents[3] / "textvae" / "configs"


def test_configs_dir_is_not_empty():
    assert sorted(CONFIG_DIR.glob("*.yaml")), "no YAML files in textvae/configs/"


def _is_text_config(path: Path) -> bool:
    # Image configs (`textvae image ...`) have their own schema; tests/image loads them.
    return "textvae image " not in path.read_text(encoding="utf-8").splitlines()[0]


@pytest.mark.parametrize(
    "path", [p for p in sorted(CONFIG_DIR.glob("*.yaml")) if _is_text_config(p)], ids=lambda p: p.name
)
def test_every_shipped_config_loads_and_opens_with_its_command(path):
    own_text = path.stem == "text"  # the recipe behind `--train FILE`: no file of its own
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#") and "textvae " in first, first
    assert ("--train " if own_text else f"--config {path.stem}") in first


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
        ("train.lr_decay=1.0", r"train.lr_decay must be in \(0, 1\).*lr_patience: null"),
        ("train.lr_patience=0", "train.lr_patience must be positive or null"),
        ("train.max_minutes=0", r"train.max_minutes must be positive or null, got 0.0"),
        ("train.max_minutes=-2.5", r"train.max_minutes must be positive or null, got -2.5"),
    ],
)
def test_bad_configs_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_warm_start_and_autoencoder_pretraining_are_refused_together():
    # Each alone is a valid run; together the decoder reset would discard the warm start.
    assert load_config(None, ["train.init_from=runs/lm"]).train.init_from == "runs/lm"
    assert load_config(None, ["train.pretrain_ae_steps=37"]).train.pretrain_ae_steps == 37
    with pytest.raises(ConfigError, match=r"^train.init_from and train.pretrain_ae_steps together"
                                          r".*discard the warm-started decoder"):
        load_config(None, ["train.init_from=runs/lm", "train.pretrain_ae_steps=37"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.kl.kind=target"],
         r"^train.kl.kind target needs train.kl.target \(the KL set point, nats per sentence\)$"),
        (["train.kl.target=5.5"],
         r"^train.kl.target is read by train.kl.kind target only, not logistic: "
         r"set train.kl.kind=target, or remove train.kl.target$"),
        (["train.kl.kind=cyclical", "train.kl.target=5.5"], "target only, not cyclical"),
        (["train.kl.kind=target", "train.kl.target=0"],
         r"^train.kl.target must be positive \(nats per sentence\), got 0.0$"),
        (["train.kl.kind=target", "train.kl.target=3", "train.kl.ki=-0.5"],
         r"^train.kl.ki must be >= 0, got -0.5$"),
        (["train.kl.kind=target", "train.kl.target=3", "train.kl.kp=-1"], r"^train.kl.kp must be >= 0"),
        (["train.kl.kind=target", "train.kl.target=3", "train.kl.max_weight=0.3",
          "train.kl.min_weight=0.7"],
         r"^train.kl.min_weight must be in \[0, max_weight = 0.3\], got 0.7$"),
        (["train.kl.kind=target", "train.kl.target=3", "train.kl.min_weight=-0.1"], "min_weight"),
    ],
)
def test_the_kl_set_point_is_set_with_kind_target_and_only_then(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
    kl = load_config(None, ["train.kl.kind=target", "train.kl.target=4.5", "train.kl.min_weight=0.1"]).train.kl
    assert (kl.kind, kl.target, kl.min_weight, kl.max_weight) == ("target", 4.5, 0.1, 1.0)


def test_the_text_labels_section_keeps_its_keys_and_checks():
    # The keys it shares with image runs are textvae.core.label_config's; the names are unchanged.
    import dataclasses

    from textvae.core.label_config import SharedLabelsConfig
    from textvae.text.run.config import LabelsConfig

    assert issubclass(LabelsConfig, SharedLabelsConfig)
    assert {f.name for f in dataclasses.fields(LabelsConfig)} == {
        "factors", "mode", "format", "unlabelled_path", "labels_per_class", "label_seed",
        "embed_dim", "classifier", "alpha_scale"}
    labels = load_config(None, ["labels.factors=[sentiment]", "labels.mode=semi_supervised",
                                "labels.labels_per_class=5", "labels.label_seed=2",
                                "labels.alpha_scale=1"]).labels
    assert (labels.labels_per_class, labels.label_seed, labels.alpha_scale) == (5, 2, 1.0)
    for override, message in [
        ("labels.labels_per_class=0", "labels.labels_per_class must be positive or null, got 0"),
        ("labels.alpha_scale=-1", "labels.alpha_scale must be >= 0"),
        ("labels.factors=[a, a]", "labels.factors lists a factor twice"),
        ("labels.embed_dim=0", "labels.embed_dim must be positive"),
        ("labels.labelled_batch_size=3", "unknown key 'labels.labelled_batch_size'"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(None, [override])
    with pytest.raises(ConfigError, match="labels.mode semi_supervised infers one factor"):
        load_config(None, ["labels.factors=[a, b]", "labels.mode=semi_supervised"])


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  lr: 0.1\n  batch_size: 5\n  lr: 0.2\n",
         "duplicate key 'lr' in section 'train' (lines 2 and 4)"),
        ("# a comment\ntrain:\n  lr: 0.1\nmodel:\n  latent_dim: 7\ntrain:\n  seed: 3\n",
         "duplicate key 'train' at the top level (lines 2 and 6)"),
        ("train:\n  kl:\n    kind: linear\n    warmup_steps: 5\n    kind: constant\n",
         "duplicate key 'kind' in section 'train.kl' (lines 3 and 5)"),
        ("data:\n  hf_splits: {train: a, train: b}\n",
         "duplicate key 'train' in section 'data.hf_splits' (line 2)"),
    ],
)
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path, text, message):
    # Plain YAML keeps the last value, so the first one would be silently ignored.
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_yaml_merge_keys_may_still_override_and_overrides_refuse_duplicates(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model: &base {latent_dim: 7, embed_dim: 11}\n"
                    "train:\n  kl:\n    <<: {kind: linear, warmup_steps: 5}\n    kind: constant\n")
    assert load_config(path).train.kl.kind == "constant"  # what a merge is for
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.kl={kind: linear, kind: constant}"])
    assert str(info.value) == ("override 'train.kl={kind: linear, kind: constant}': duplicate key "
                               "'kind' in section 'train.kl' (line 1)")


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


def test_a_bare_yaml_off_means_the_string_off(tmp_path):
    # YAML 1.1 reads `amp: off` as the boolean false; the choice field takes it as "off".
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  amp: off\n")
    assert load_config(path, []).train.amp == "off"
    assert load_config(None, ["train.amp=off"]).train.amp == "off"
    with pytest.raises(ConfigError, match="invalid choice True"):
        load_config(None, ["train.amp=on"])


# ---------------------------------------------------------------- fuzz
# Whatever a config file or --set holds, loading either succeeds with a valid Config or raises
# ConfigError; nothing else may escape.

_FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
_KEYS = [f"{section}.{field}" for section, cfg in to_dict(Config()).items() for field in cfg]
_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["adam", "lstm", "vae", "word", "text", "drop", "skip", "1e-3", ".inf"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _loads_or_config_error(*args) -> None:
    try:
        cfg = load_config(*args)
    except ConfigError as err:
        assert str(err) and "\n" not in str(err), "a config error is one line"
    else:
        assert isinstance(cfg, Config)
        assert from_dict(Config, to_dict(cfg)) == cfg


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_config_file_of_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_bytes(data)
    _loads_or_config_error(path)


@_FUZZ
@given(doc=st.dictionaries(st.sampled_from(["data", "model", "train", "extra"]),
                           st.dictionaries(st.text(max_size=10) | st.sampled_from(_KEYS).map(
                               lambda k: k.split(".")[1]), _VALUES, max_size=4) | _VALUES,
                           max_size=3))
def test_fuzz_config_file_of_random_yaml(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    _loads_or_config_error(path)


@_FUZZ
@given(overrides=st.lists(
    st.text(max_size=30)
    | st.tuples(st.sampled_from(_KEYS), st.text(max_size=12)).map(lambda kv: f"{kv[0]}={kv[1]}")
    | st.tuples(st.sampled_from(_KEYS), _VALUES).map(lambda kv: f"{kv[0]}={yaml.safe_dump(kv[1])}"),
    max_size=3,
))
def test_fuzz_overrides_of_random_unicode(overrides):
    _loads_or_config_error(None, overrides)
