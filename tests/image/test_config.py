from pathlib import Path

import pytest

from textvae.config import to_dict
from textvae.errors import ConfigError
from textvae.image.config import ImageConfig, load_image_config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "textvae" / "configs"
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
    from textvae.config import from_dict

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
    from textvae.config import TrainConfig

    assert TrainConfig().kl.kind == "logistic"


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

    from textvae.image.config import ImageDataConfig, SemiSupConfig, SemiSupTrainConfig
    from textvae.image.m2 import M2Config

    for name in ("mnist_m2", "mnist_m1m2"):
        cfg = load_image_config(CONFIG_DIR / f"{name}.yaml")
        assert isinstance(cfg, SemiSupConfig) and cfg.data.labels_per_class == 10
    assert load_image_config(CONFIG_DIR / "mnist_m1m2.yaml").model.m1_checkpoint == "runs/mnist_m1"
    m1 = load_image_config(CONFIG_DIR / "mnist_m1.yaml").model
    assert (m1.hidden_dims, m1.latent_dim, m1.activation) == ([600, 600], 50, "softplus")
    page = (CONFIG_DIR.parents[1] / "docs" / "configs.md").read_text(encoding="utf-8")
    keys = [f"data.{f.name}" for f in dataclasses.fields(ImageDataConfig)
            if f.name in ("labels_per_class", "label_seed")]
    keys += [f"model.{f.name}" for f in dataclasses.fields(M2Config)]
    keys += [f"train.{f.name}" for f in dataclasses.fields(SemiSupTrainConfig)
             if f.name in ("labelled_batch_size", "alpha_scale")]
    assert not [k for k in keys if f"`{k}`" not in page]
    with pytest.raises(ConfigError, match="data.labels_per_class must be positive"):
        load_image_config(None, ["model.model_type=m2", "data.labels_per_class=0"])
