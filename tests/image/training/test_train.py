import json

import pytest
import torch

from textvae.core.checkpoint import CheckpointKind, load_checkpoint
from textvae.core.errors import CheckpointError, TextVAEError
from textvae.image.run.config import ImageConfig
from textvae.image.training.train import load_image_model, train_image

MODELS = {
    "mlp_vae": [],
    "conv_vae": ["model.architecture=conv"],
    "beta_vae": ["model.beta=4.0", "model.decoder=gaussian", "data.pixels=grey"],
    "ae": ["model.model_type=ae"],
    "vqvae": ["model.model_type=vqvae", "model.architecture=conv", "model.ema=true"],
}


def _quiet(*_):
    pass


def load_image_checkpoint(path, **kwargs):
    return load_checkpoint(path, CheckpointKind("image", ImageConfig), **kwargs)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_and_round_trips_its_checkpoint(name, image_config, one_thread):
    cfg = image_config(*MODELS[name], "train.max_steps=4")
    result = train_image(cfg, log=_quiet)
    assert result.step == 4 and result.stopped == "reached max_steps=4"
    ckpt = load_image_checkpoint(result.run_dir)
    assert ckpt.meta["kind"] == "image" and ckpt.tokenizer is None
    assert isinstance(ckpt.config, ImageConfig) and ckpt.config == cfg
    model, config, meta = load_image_model(result.run_dir, "cpu")
    assert meta["step"] == 4 and meta["image_shape"] == [1, 12, 12]
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt.model_state[key]), key
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [2, 4]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert all(r["reconstruction"] > 0 for r in train_rows)
    # Only VAEs have an ELBO; the AE and VQ-VAE log no neg_elbo or kl under those names.
    assert all(("neg_elbo" in r) == ("vae" in name and name != "vqvae") for r in train_rows)


def test_an_epoch_end_validates_and_keeps_best(image_config, one_thread):
    result = train_image(image_config("train.epochs=2"), log=_quiet)
    assert result.epoch == 2 and result.step == 8  # 18 training images, batches of 5
    assert (result.run_dir / "best").exists()
    assert set(result.valid) >= {"neg_elbo", "reconstruction", "kl", "mse_per_image"}


def test_resume_continues_exactly(image_config, one_thread):
    straight = train_image(image_config("train.max_steps=7", out="a"), log=_quiet)
    train_image(image_config("train.max_steps=3", out="b"), log=_quiet)
    resumed = train_image(image_config("train.max_steps=7", out="b"), resume=True, log=_quiet)
    assert resumed.step == 7
    a = load_image_checkpoint(straight.run_dir / "last").model_state
    b = load_image_checkpoint(resumed.run_dir / "last").model_state
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resuming_a_run_at_its_step_budget_trains_no_further(image_config, one_thread):
    # The loop is the text trainer's (TrainerBase.run), progress bar included.
    train_image(image_config("train.max_steps=2"), log=_quiet)
    again = train_image(image_config("train.max_steps=2"), resume=True, log=_quiet, progress=True)
    assert again.step == 2 and again.stopped == "reached max_steps=2"


def test_a_resume_refuses_settings_it_would_ignore(image_config, one_thread):
    from textvae.core.errors import ConfigError

    train_image(image_config("train.max_steps=2"), log=_quiet)
    with pytest.raises(ConfigError) as info:
        train_image(image_config("train.max_steps=3", "model.latent_dim=9", "model.beta=4"),
                    resume=True, log=_quiet)
    assert str(info.value) == (
        "--resume continues the saved run; these settings differ from it and cannot change "
        "mid-run: model.latent_dim (saved 7, asked 9), model.beta (saved 1.0, asked 4.0). Start "
        "a new run (another train.out_dir) to change them"
    )
    resumed = train_image(image_config("train.max_steps=3", "train.device=cpu"), resume=True,
                          log=_quiet)
    assert resumed.step == 3


def test_a_used_run_directory_needs_resume(image_config, one_thread):
    train_image(image_config("train.max_steps=1"), log=_quiet)
    with pytest.raises(TextVAEError, match="already holds a run"):
        train_image(image_config("train.max_steps=1"), log=_quiet)


def test_image_size_mismatch_is_a_clear_error(image_config):
    with pytest.raises(TextVAEError, match=r"set model.image_channels=1 and model.image_size=12"):
        train_image(image_config("model.image_size=28"), log=_quiet)


def test_a_text_checkpoint_is_refused_as_an_image_model(tmp_path):
    from textvae.core.checkpoint import write_checkpoint
    from textvae.text.data.tokenizers import WordTokenizer
    from textvae.text.run.config import Config

    write_checkpoint(tmp_path, config=Config(), tokenizer=WordTokenizer.build(["a b"]),
                     model_state={}, trainer_state=None, meta={"step": 1})
    from textvae.text.run.checkpoint import load_checkpoint as load_text_checkpoint

    assert load_text_checkpoint(tmp_path).meta["kind"] == "text"
    with pytest.raises(CheckpointError, match="is a text-model checkpoint, not image"):
        load_image_model(tmp_path, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_training_on_cuda(image_config):
    result = train_image(image_config("train.max_steps=2", "train.device=cuda"), log=_quiet)
    model, _, _ = load_image_model(result.run_dir, "cuda")
    assert next(model.parameters()).is_cuda


def test_the_text_api_refuses_an_image_checkpoint(image_config, one_thread):
    import textvae

    result = train_image(image_config("train.max_steps=1"), log=_quiet)
    with pytest.raises(CheckpointError, match="is an image-model checkpoint, not text"):
        textvae.load(result.run_dir, device="cpu")


def test_the_shared_nonfinite_policy_applies_to_images(image_config, monkeypatch, one_thread):
    import textvae.image.training.train as image_train

    original = image_train.image_objective
    calls = {"n": 0}

    def poisoned(*args, **kwargs):  # a NaN loss on the second step only
        terms = original(*args, **kwargs)
        calls["n"] += 1
        return terms._replace(loss=terms.loss * float("nan")) if calls["n"] == 2 else terms

    monkeypatch.setattr(image_train, "image_objective", poisoned)
    result = train_image(image_config("train.max_steps=4", "train.nonfinite=skip"), log=_quiet)
    state = load_image_checkpoint(result.run_dir, with_trainer=True).trainer_state
    assert result.step == 4 and state["skipped_batches"] == 1
    calls["n"] = 0
    with pytest.raises(TextVAEError, match="the training loss became nan at step 2"):
        train_image(image_config("train.max_steps=4", out="stop"), log=_quiet)


def test_resuming_across_kinds_is_a_clear_error(image_config, tiny_config, one_thread):
    from textvae.text.training.train import train

    image_run = train_image(image_config("train.max_steps=1", out="img"), log=_quiet)
    text_cfg = tiny_config("train.max_steps=1", out="img")  # the same out_dir
    with pytest.raises(TextVAEError, match="is an image-model checkpoint, not text; use `textvae image"):
        train(text_cfg, resume=True, progress=False, log=_quiet)
    assert (image_run.run_dir / "last").exists()


def test_eval_every_validates_between_epoch_ends(image_config, one_thread):
    # 18 training images in batches of 5: epochs end at steps 4 and 8.
    result = train_image(image_config("train.max_steps=6", "train.eval_every=2"), log=_quiet)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "valid"] == [2, 4, 6]


def test_image_commands_read_best_like_the_text_ones(image_config, one_thread):
    import shutil

    from textvae.core.checkpoint import point_link

    result = train_image(image_config("train.max_steps=3", "train.eval_every=1"), log=_quiet)
    run = result.run_dir
    older = run / "checkpoints" / "step-00000001"
    shutil.copytree((run / "last").resolve(), older)
    meta = json.loads((older / "meta.json").read_text())
    (older / "meta.json").write_text(json.dumps({**meta, "step": 1}))
    point_link(run, "best", older)
    assert load_image_model(run, "cpu")[2]["step"] == 1  # best, not last (step 3)
    assert load_image_model(run / "last", "cpu")[2]["step"] == 3


def test_an_image_run_fits_its_kl_annealing_into_the_run(image_config, one_thread):
    # train.kl.anneal_fraction is a key of the shared loop: an image run turns it into steps
    # too, instead of silently keeping the schedule's default warm-up of 10,000 steps.
    messages = []
    cfg = image_config("train.kl.kind=linear", "train.kl.anneal_fraction=0.5", "train.epochs=3")
    result = train_image(cfg, log=messages.append)
    planned = result.step  # 3 epochs of the 18 training images in batches of 5: 12 steps
    assert planned == 12
    saved = load_checkpoint(result.run_dir / "last", CheckpointKind("image", ImageConfig)).config
    assert (saved.train.kl.anneal_fraction, saved.train.kl.warmup_steps) == (None, 6)
    assert any(f"KL annealing over 0.5 of {planned} planned steps: linear, warmup_steps=6" in m
               for m in messages)
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    weights = {r["step"]: r["kl_weight"] for r in rows if r["split"] == "train"}
    # The row of step 2 holds the weight of its batch, trained at step index 1: 1 / 6 of the way.
    assert weights[2] == pytest.approx(1 / 6) and weights[12] == 1.0
