from pathlib import Path

import pytest
import torch

from textvae.core.errors import ConfigError
from textvae.image.run.config import ImageConfig, load_image_config
from textvae.text.run.config import to_dict

CONFIG_DIR = Path(__file__).resolve().parents[3] / "textvae" / "configs"
IMAGE_CONFIGS = [
    p for p in sorted(CONFIG_DIR.glob("*.yaml"))
    if "textvae image " in p.read_text(encoding="utf-8").splitlines()[0]
]


def test_the_image_configs_ship():
    names = {p.name for p in IMAGE_CONFIGS}
    assert names == {"mnist_vae.yaml", "mnist_vae_burda.yaml", "mnist_conv_vae.yaml",
                     "sprites_betavae.yaml", "mnist_vqvae.yaml", "mnist_m1.yaml",
                     "mnist_m2.yaml", "mnist_m1m2.yaml",
                     "mnist_vqvae2.yaml", "sprites_vqvae2.yaml", "mnist_vqvae2_prior.yaml",
                     "sprites_vqvae2_prior.yaml", "mnist_vqvae_prior.yaml",
                     "mnist_denoise.yaml", "mnist_inpaint.yaml", "mnist_superres.yaml",
                     "mnist_judge.yaml", "sprites_judge.yaml"}


@pytest.mark.parametrize("path", IMAGE_CONFIGS, ids=lambda p: p.name)
def test_every_image_config_loads_and_opens_with_its_command(path):
    cfg = load_image_config(path)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# textvae image train --config {path.stem}"
    assert cfg.train.out_dir == f"runs/{path.stem}"


def test_published_architectures():
    kw = load_image_config(CONFIG_DIR / "mnist_vae.yaml").model
    assert (kw.hidden_dims, kw.latent_dim, kw.activation) == ([400], 20, "relu")
    burda = load_image_config(CONFIG_DIR / "mnist_vae_burda.yaml").model
    assert (burda.hidden_dims, burda.latent_dim, burda.activation) == ([200, 200], 50, "tanh")
    vq = load_image_config(CONFIG_DIR / "mnist_vqvae.yaml").model
    assert vq.commitment_cost == 0.25 and vq.model_type == "vqvae"


def test_list_overrides_are_typed_and_round_trip():
    cfg = load_image_config(None, ["model.hidden_dims=[7, 5]", "model.beta=4"])
    assert cfg.model.hidden_dims == [7, 5] and cfg.model.beta == 4.0
    with pytest.raises(ConfigError, match=r"model.hidden_dims\[1\]: expected an integer"):
        load_image_config(None, ["model.hidden_dims=[7, x]"])
    with pytest.raises(ConfigError, match="model.channels: expected a list"):
        load_image_config(None, ["model.channels=3"])
    from textvae.text.run.config import from_dict

    assert from_dict(ImageConfig, to_dict(cfg)) == cfg


def test_unknown_keys_name_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown key 'data.pixel'.*did you mean 'pixels'"):
        load_image_config(None, ["data.pixel=grey"])
    with pytest.raises(ConfigError, match="data.source is 'hf' but data.hf_name is not set"):
        load_image_config(None, ["data.source=hf"])


def test_image_runs_default_to_a_constant_kl_weight(tmp_path):
    # The text default (logistic annealing) must not leak into an image run that names no kind.
    assert load_image_config(None).train.kl.kind == "constant"
    path = tmp_path / "partial_kl.yaml"
    path.write_text("train:\n  kl:\n    max_weight: 2\n", encoding="utf-8")
    kl = load_image_config(path).train.kl
    assert (kl.kind, kl.max_weight) == ("constant", 2.0)
    # Any other kind is still there for the asking, and the text side's default is unchanged.
    assert load_image_config(path, ["train.kl.kind=logistic"]).train.kl.kind == "logistic"
    from textvae.text.run.config import TrainConfig

    assert TrainConfig().kl.kind == "logistic"


def test_image_runs_refuse_the_kl_set_point():
    # The KL set point follows the KL of each text training step; the image trainers take a
    # weight that is a function of the step.
    with pytest.raises(ConfigError, match="train.kl.kind: invalid choice 'target'; valid choices: "
                                          "'constant', 'linear', 'logistic', 'cyclical'"):
        load_image_config(None, ["train.kl.kind=target", "train.kl.target=3"])


def test_image_configs_share_the_checks_of_the_train_section(tmp_path):
    with pytest.raises(ConfigError, match=r"train.max_minutes must be positive or null, got 0.0"):
        load_image_config(None, ["train.max_minutes=0"])
    path = tmp_path / "image.yaml"
    path.write_text("model:\n  latent_dim: 7\n  beta: 2\n  latent_dim: 9\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'latent_dim' in section 'model' "
                                          r"\(lines 2 and 4\)"):
        load_image_config(path)


def test_the_semi_supervised_configs_load_as_such_and_their_keys_are_documented():
    import dataclasses

    from textvae.image.models.m2 import M2Config
    from textvae.image.run.config import ImageLabelsConfig, SemiSupConfig, SemiSupLabelsConfig

    for name in ("mnist_m2", "mnist_m1m2"):
        cfg = load_image_config(CONFIG_DIR / f"{name}.yaml")
        assert isinstance(cfg, SemiSupConfig) and cfg.labels.labels_per_class == 10
        assert (cfg.labels.labelled_batch_size, cfg.labels.alpha_scale) == (100, 1.0)
    assert load_image_config(CONFIG_DIR / "mnist_m1m2.yaml").model.m1_checkpoint == "runs/mnist_m1"
    m1 = load_image_config(CONFIG_DIR / "mnist_m1.yaml").model
    assert (m1.hidden_dims, m1.latent_dim, m1.activation) == ([600, 600], 50, "softplus")
    page = (CONFIG_DIR.parents[1] / "docs" / "configs.md").read_text(encoding="utf-8")
    image_section = page[page.index("### Semi-supervised image runs"):]
    keys = [f"labels.{f.name}" for f in dataclasses.fields(SemiSupLabelsConfig)]
    keys += [f"labels.{f.name}" for f in dataclasses.fields(ImageLabelsConfig)]
    keys += [f"model.{f.name}" for f in dataclasses.fields(M2Config)]
    assert not [k for k in keys if f"`{k}`" not in image_section]
    with pytest.raises(ConfigError, match="labels.labels_per_class must be positive or null"):
        load_image_config(None, ["model.model_type=m2", "labels.labels_per_class=0"])
    with pytest.raises(ConfigError, match="labels.labelled_batch_size must be positive"):
        load_image_config(None, ["model.model_type=m2", "labels.labelled_batch_size=0"])
    with pytest.raises(ConfigError, match="labels.alpha_scale must be >= 0"):
        load_image_config(None, ["model.model_type=m2", "labels.alpha_scale=-1"])


# One labels section on both sides (issue 32): the keys text and image runs share are one
# dataclass's, and each run's section holds only what it reads.
def test_the_shared_label_keys_are_one_dataclass_on_both_sides():
    import dataclasses

    from textvae.core.label_config import LabelFactorsConfig, SharedLabelsConfig
    from textvae.image.run.config import ImageLabelsConfig, SemiSupLabelsConfig
    from textvae.text.run.config import LabelsConfig

    shared = {f.name for f in dataclasses.fields(SharedLabelsConfig)}
    assert shared == {"factors", "labels_per_class", "label_seed", "alpha_scale"}
    assert issubclass(LabelsConfig, SharedLabelsConfig) and issubclass(SemiSupLabelsConfig,
                                                                        SharedLabelsConfig)
    assert issubclass(ImageLabelsConfig, LabelFactorsConfig)
    assert {f.name for f in dataclasses.fields(SemiSupLabelsConfig)} - shared == {
        "labelled_batch_size"}
    assert {f.name for f in dataclasses.fields(ImageLabelsConfig)} == {"factors"}
    assert {f.name for f in dataclasses.fields(LabelsConfig)} - shared == {
        "mode", "format", "unlabelled_path", "embed_dim", "classifier"}


@pytest.mark.parametrize("key, value", [
    ("labels_per_class", "2"), ("label_seed", "3"), ("label_factor", "shape"),
])
def test_a_semi_supervised_run_reads_its_label_keys_only_in_the_labels_section(key, value):
    new = "factors" if key == "label_factor" else key
    shown = f"[{value}]" if new == "factors" else value
    sprites = ["data.source=sprites"] if new == "factors" else []
    cfg = load_image_config(None, ["model.model_type=m2", *sprites, f"labels.{new}={shown}"])
    assert getattr(cfg.labels, new) == yaml_value(shown)
    with pytest.raises(ConfigError, match=rf"unknown key 'data\.{key}': image runs keep it in "
                                          rf"the labels section, as labels\.{new}"):
        load_image_config(None, ["model.model_type=m2", *sprites, f"data.{key}={value}"])


@pytest.mark.parametrize("key", ["labelled_batch_size", "alpha_scale"])
def test_the_labelled_batch_and_the_weight_moved_from_train_to_labels(key):
    cfg = load_image_config(None, ["model.model_type=m2", f"labels.{key}=3"])
    assert getattr(cfg.labels, key) == 3
    with pytest.raises(ConfigError, match=rf"unknown key 'train\.{key}'.*labels\.{key}"):
        load_image_config(None, ["model.model_type=m2", f"train.{key}=3"])


@pytest.mark.parametrize("key", ["labels_per_class=2", "label_seed=1", "alpha_scale=1.0",
                                 "labelled_batch_size=3"])
def test_a_plain_image_run_refuses_label_keys_nothing_reads(key):
    # A VAE or VQ run reads only which sprites factor is the class (labels.factors).
    name = key.split("=")[0]
    with pytest.raises(ConfigError, match=rf"unknown key 'labels\.{name}'.*valid keys in section "
                                          r"'labels': factors$"):
        load_image_config(None, [f"labels.{key}"])
    old = "train" if name in ("alpha_scale", "labelled_batch_size") else "data"
    with pytest.raises(ConfigError, match=rf"unknown key '{old}\.{name}'( \(did you mean "
                                          r"'\w+'\?\))?; valid keys"):
        load_image_config(None, [f"{old}.{key}"])
    assert load_image_config("sprites_vqvae2").labels.factors == ["shape"]


def test_a_prior_run_has_no_labels_section():
    with pytest.raises(ConfigError, match="unknown key 'labels'"):
        load_image_config("mnist_vqvae_prior", ["labels.factors=[shape]"])


def yaml_value(text):
    import yaml

    return yaml.safe_load(text)


# The train section is the loop's keys plus each side's own: an image run refuses a key that only
# the text trainers read, instead of accepting and ignoring it (issue 32).
TEXT_ONLY_TRAIN_KEYS = {
    "word_dropout": "0.5", "free_bits": "3", "free_bits_mode": "total", "bucketed": "false",
    "compile": "true", "aggressive": "true", "aggressive_max_inner": "7",
    "pretrain_ae_steps": "11", "collapse_warning": "false", "collapse_patience": "5",
    "word_deletion": "0.3", "valid_sentences": "9", "init_from": "runs/lm",
}
# Added to the text side after the split: no old image checkpoint holds them.
TEXT_KEYS_SINCE_THE_SPLIT = {"word_deletion", "valid_sentences", "init_from"}


@pytest.mark.parametrize("key", sorted(TEXT_ONLY_TRAIN_KEYS))
@pytest.mark.parametrize("config", ["sprites_betavae", "mnist_m2", "mnist_vqvae_prior"])
def test_an_image_run_refuses_a_text_only_train_key(config, key):
    with pytest.raises(ConfigError, match=rf"unknown key 'train\.{key}'.*valid keys in section "
                                          r"'train': out_dir, seed"):
        load_image_config(config, [f"train.{key}={TEXT_ONLY_TRAIN_KEYS[key]}"])


def test_the_text_only_keys_are_exactly_those_the_text_side_adds():
    import dataclasses

    from textvae.core.loop_config import LoopTrainConfig
    from textvae.image.run.config import TEXT_KEYS_IN_OLD_IMAGE_CHECKPOINTS, ImageTrainConfig
    from textvae.text.run.config import TrainConfig

    loop = {f.name for f in dataclasses.fields(LoopTrainConfig)}
    text = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f.name for f in dataclasses.fields(ImageTrainConfig)} == loop
    assert text - loop == set(TEXT_ONLY_TRAIN_KEYS)
    assert set(TEXT_ONLY_TRAIN_KEYS) - TEXT_KEYS_SINCE_THE_SPLIT == \
        set(TEXT_KEYS_IN_OLD_IMAGE_CHECKPOINTS)
    # The text side still takes them all (the warm start apart: it refuses autoencoder
    # pretraining beside it).
    from textvae.text.run.config import load_config

    train = load_config(None, [f"train.{k}={v}" for k, v in TEXT_ONLY_TRAIN_KEYS.items()
                               if k != "init_from"]).train
    assert (train.word_dropout, train.free_bits, train.pretrain_ae_steps) == (0.5, 3.0, 11)
    assert load_config(None, ["train.init_from=runs/lm"]).train.init_from == "runs/lm"


SAVED_BEFORE_SPLIT = Path(__file__).parent / "saved_before_split"


def test_image_checkpoints_saved_before_the_split_still_load():
    # Written by textvae at 09732e0 (when ImageTrainConfig inherited the text TrainConfig), so
    # their config.yaml holds the ten text-only keys.
    import yaml

    from textvae.image.training.semisup_train import load_semisup_model
    from textvae.image.training.train import load_image_model

    for run in ("vae", "m2"):
        saved = yaml.safe_load((SAVED_BEFORE_SPLIT / run / "config.yaml").read_text())
        assert set(TEXT_ONLY_TRAIN_KEYS) - TEXT_KEYS_SINCE_THE_SPLIT <= set(saved["train"])
    model, config, meta = load_image_model(SAVED_BEFORE_SPLIT / "vae", device="cpu")
    assert (config.model.latent_dim, config.train.batch_size, meta["step"]) == (3, 5, 4)
    assert not hasattr(config.train, "word_dropout")
    x = torch.rand(5, 1, 9, 9)
    assert model(x).recon.shape == (5, 1, 9, 9)
    m2, config, meta, labels = load_semisup_model(SAVED_BEFORE_SPLIT / "m2", device="cpu")
    assert (config.labels.labelled_batch_size, labels.sizes) == (3, (3,))
    assert not hasattr(config.train, "free_bits")


def test_image_checkpoints_saved_before_the_one_labels_section_load_with_their_labels_moved():
    # The same checkpoints: their label settings are data.labels_per_class, data.label_seed,
    # data.label_factor, train.labelled_batch_size and train.alpha_scale.
    import dataclasses

    import yaml

    from textvae.image.training.semisup_train import load_semisup_model
    from textvae.image.training.train import load_image_model

    saved = yaml.safe_load((SAVED_BEFORE_SPLIT / "m2" / "config.yaml").read_text())
    assert (saved["data"]["labels_per_class"], saved["train"]["labelled_batch_size"]) == (2, 3)
    _, config, _, _ = load_semisup_model(SAVED_BEFORE_SPLIT / "m2", device="cpu")
    assert dataclasses.asdict(config.labels) == {
        "factors": [], "labels_per_class": 2, "label_seed": 0, "alpha_scale": 0.1,
        "labelled_batch_size": 3}
    assert not {"labels_per_class", "label_seed", "label_factor"} & set(to_dict(config)["data"])
    assert not {"labelled_batch_size", "alpha_scale"} & set(to_dict(config)["train"])
    # A plain run read none of them but the class factor (null here): the rest are dropped.
    _, config, _ = load_image_model(SAVED_BEFORE_SPLIT / "vae", device="cpu")
    assert dataclasses.asdict(config.labels) == {"factors": []}
    assert not {"labels_per_class", "label_seed", "label_factor"} & set(to_dict(config)["data"])


OLD_SPRITES_DATA = {"source": "sprites", "valid_size": 3, "labels_per_class": None,
                    "label_seed": 5, "label_factor": "shape"}


@pytest.mark.parametrize("cls_name, labels", [
    ("ImageConfig", {"factors": ["shape"]}),
    ("SemiSupConfig", {"factors": ["shape"], "labels_per_class": None, "label_seed": 5,
                       "labelled_batch_size": 64, "alpha_scale": 0.3}),
])
def test_upgrade_saved_moves_the_label_keys_where_the_run_reads_them(cls_name, labels):
    import textvae.image.run.config as image_config

    cls = getattr(image_config, cls_name)
    raw = {"data": dict(OLD_SPRITES_DATA), "model": {"model_type": "vae"},
           "train": {"batch_size": 7, "labelled_batch_size": 64, "alpha_scale": 0.3,
                     "word_dropout": 0.0}}
    if cls_name == "SemiSupConfig":
        raw["model"] = {"model_type": "classifier"}
    upgraded = cls.upgrade_saved(raw)
    assert upgraded["labels"] == labels
    assert upgraded["data"] == {"source": "sprites", "valid_size": 3}
    assert upgraded["train"] == {"batch_size": 7}
    assert raw["data"] == OLD_SPRITES_DATA  # the dict read is left as it was
    config = image_config.from_dict(cls, upgraded)
    assert config.labels.factors == ["shape"] and image_config.class_factor(config) == "shape"
    # Today's keys pass unchanged; a null factor becomes no factor.
    assert cls.upgrade_saved(to_dict(config)) == to_dict(config)
    mnist = cls.upgrade_saved({"data": {"source": "mnist", "label_factor": None}})
    assert mnist == {"data": {"source": "mnist"}, "labels": {"factors": []}}


def test_upgrade_saved_leaves_a_prior_run_without_labels():
    from textvae.image.run.config import PriorRunConfig

    raw = {"model": {"model_type": "prior", "vq_run": "runs/vq"}, "train": {"batch_size": 3}}
    assert PriorRunConfig.upgrade_saved(raw) == raw


def test_a_run_saved_before_the_one_labels_section_resumes_with_the_new_keys(
        semisup_config, tmp_path, one_thread):
    # The saved M2 run, its data moved to the fixture's: --resume with today's keys is not
    # refused for the moved ones, runs on, and its new checkpoints hold the labels section.
    import shutil

    import yaml

    from textvae.image.training.semisup_train import load_semisup_model, train_semisup

    run = tmp_path / "old_run"
    step = run / "checkpoints" / "step-4"
    shutil.copytree(SAVED_BEFORE_SPLIT / "m2", step)
    (run / "last").symlink_to(step.relative_to(run))
    saved = yaml.safe_load((step / "config.yaml").read_text())
    labelled_mnist = semisup_config().data.path
    saved["data"]["path"] = labelled_mnist
    saved["train"]["out_dir"] = str(run)
    (step / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    same = ("model.hidden_dims=[5]", "model.classifier_dims=[7]", "model.latent_dim=3",
            "train.amp=off", "train.epochs=10", "train.log_every=50")
    with pytest.raises(ConfigError, match=r"labels.labels_per_class \(saved 2, asked 3\)"):
        train_semisup(semisup_config(*same, "labels.labels_per_class=3", "train.max_steps=6",
                                     out="old_run"), resume=True, log=lambda _: None)
    result = train_semisup(semisup_config(*same, "train.max_steps=6", out="old_run"),
                           resume=True, log=lambda _: None)
    assert result.step == 6
    _, config, meta, _ = load_semisup_model(run, device="cpu")
    assert meta["step"] == 6 and config.labels.labelled_batch_size == 3
    written = yaml.safe_load((run / "last" / "config.yaml").read_text())
    assert written["labels"]["labels_per_class"] == 2 and "labels_per_class" not in written["data"]
