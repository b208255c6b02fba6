import pytest
import torch

from textvae.core.errors import TextVAEError
from textvae.image.run.config import load_image_config
from textvae.image.training.train import load_image_model, train_image
from textvae.image.use import report
from textvae.image.use.report import evaluate_run, sprite_metrics, test_images


def _quiet(*_):
    pass


def _run(image_config, *overrides):
    # The fake MNIST of conftest: 23 training images (5 held out for validation) and 9 test
    # images of 12x12; three steps of batches of 5.
    return train_image(image_config("train.max_steps=3", *overrides), log=_quiet).run_dir


def test_slices_see_the_pixels_of_the_full_split(image_config, one_thread):
    run = _run(image_config)
    cfg = load_image_config(run / "last" / "config.yaml")
    full, labels = test_images(cfg, "test", None)  # (9, 1, 12, 12), (9,)
    part, part_labels = test_images(cfg, "test", 3, offset=5)
    assert full.shape == (9, 1, 12, 12) and set(full.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(part, full[5:8]) and torch.equal(part_labels, labels[5:8])
    result = evaluate_run(run, iw_k=3, offset=7, log=_quiet)
    assert result["images"] == 2 and result["offset"] == 7  # test images 7 and 8 of 9
    with pytest.raises(TextVAEError, match="no test images from offset 9"):
        evaluate_run(run, iw_k=3, offset=9, log=_quiet)


def test_a_vae_report_has_the_iw_nll_and_grey_pixels_add_bits_per_dim(image_config, one_thread):
    run = _run(image_config, "model.decoder=gaussian", "data.pixels=grey")
    lines = []
    result = evaluate_run(run, iw_k=13, iw_chunk=5, seed=3, log=lines.append)
    assert result["iw_k"] == 13 and result["images"] == 9 and result["pixels"] == "grey"
    assert {"neg_elbo", "kl", "reconstruction", "mse_per_image", "iw_nll_nats_per_image",
            "bits_per_dim"} <= set(result)
    assert lines and lines[-1].startswith("  IW-NLL: 9/9 images")
    # Floats are rounded to 4 decimals for the report.
    assert result["neg_elbo"] == round(result["neg_elbo"], 4)
    # Without importance sampling the bits/dim come from the -ELBO bound instead.
    bound = evaluate_run(run, iw_k=0, seed=3, log=_quiet)
    assert "iw_nll_nats_per_image" not in bound and "bits_per_dim" not in bound
    assert bound["bits_per_dim_bound"] > 0


def test_an_autoencoder_report_has_no_elbo_or_iw_nll(image_config, one_thread):
    run = _run(image_config, "model.model_type=ae")
    result = evaluate_run(run, iw_k=7, log=_quiet)
    assert "reconstruction" in result and "mse_per_image" in result
    assert not {"neg_elbo", "kl", "iw_nll_nats_per_image", "iw_k"} & set(result)


def test_sprites_report_mig_and_the_beta_vae_metric(tmp_path, monkeypatch, one_thread):
    cfg = load_image_config(None, [
        "data.source=sprites", "data.sprites_size=23", "data.valid_size=3",
        "model.image_size=64", "model.hidden_dims=[13]", "model.latent_dim=7",
        "train.max_steps=2", "train.batch_size=5", f"train.out_dir={tmp_path / 'sprites'}",
    ])
    run = train_image(cfg, log=_quiet).run_dir
    result = evaluate_run(run, iw_k=0, beta_vae_train=11, beta_vae_test=7, mig_images=97,
                          log=_quiet)
    assert 0 <= result["mig"] <= 1 and len(result["mig_per_factor"]) == 5
    assert result["mig_images"] == 97
    assert 0 <= result["beta_vae_accuracy"] <= 1 and result["beta_vae_examples"] == [11, 7]
    hits = result["beta_vae_accuracy"] * 7  # a whole number of the 7 test examples (4 decimals)
    assert abs(hits - round(hits)) < 1e-3
    # sprite_metrics itself: seeded, unrounded, and MIG's sprites are a stream of their own.
    model, _, _ = load_image_model(run, "cpu")
    seeds = []

    def make_sprites(n, seed):
        seeds.append(seed)
        return original(n, seed=seed)

    original = report.make_sprites
    monkeypatch.setattr(report, "make_sprites", make_sprites)
    kw = dict(n_mig=53, n_train=11, n_test=7)
    first = sprite_metrics(model, seed=1, **kw)
    assert sprite_metrics(model, seed=1, **kw) == first
    assert seeds == [report.MIG_SEED_OFFSET + 1] * 2  # MIG's sprites: a stream of their own
    assert first["mig_images"] == 53 and first["beta_vae_examples"] == [11, 7]
