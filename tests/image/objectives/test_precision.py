"""Mixed precision in image training: what stays float32 under autocast, and the fp16 path with
loss scaling (issue 20)."""

import json
import math

import pytest
import torch

import textvae.core.training.loop as loop
import textvae.image.models.vae as image_models
from textvae.core.checkpoint import CheckpointKind, load_checkpoint
from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import ImageModelConfig, ImageOutput
from textvae.image.objectives.evaluate import image_objective
from textvae.image.run.config import ImageConfig
from textvae.image.training.train import train_image

SMALL = dict(image_size=12, hidden_dims=[13], latent_dim=7, channels=[5, 9], codebook_size=11,
             code_dim=3)


def _quiet(*_):
    pass


@pytest.mark.parametrize("decoder", ["gaussian", "bernoulli"])
def test_under_bf16_autocast_the_objective_is_its_float32_computation(decoder):
    # Before the fix the bf16 path differed from float32 by -0.76 nats per image for a 784-pixel
    # Gaussian decoder at initialisation (log 2 pi rounded in bf16; -0.15 on these 144 pixels)
    # and by about -0.005 for a Bernoulli one (softplus in bf16).
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(decoder=decoder, **SMALL))
    x = torch.rand(5, 1, 12, 12)
    if decoder == "bernoulli":
        x = torch.bernoulli(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, generator=torch.Generator().manual_seed(1))
        inside = image_objective(model, out, x)
    assert out.recon.dtype == torch.bfloat16  # the decoder did run in bf16
    assert out.mu.dtype == out.logvar.dtype == torch.float32  # the posterior head did not
    outside = image_objective(model, out, x)
    as_float32 = ImageOutput(*(None if t is None else t.float() for t in out))
    reference = image_objective(model, as_float32, x)
    for terms in (inside, outside):
        for name in ("loss", "neg_elbo", "reconstruction", "kl"):
            value, expected = getattr(terms, name), getattr(reference, name)
            assert value.dtype == torch.float32, name
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-5)


def test_the_posterior_head_is_the_float32_computation_under_autocast():
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(architecture="conv", **SMALL))
    x = torch.rand(5, 1, 12, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model.net.encoder(x)  # bf16 features
        mu, logvar = model.encode(x)
    expected_mu, expected_logvar = model.net.to_latent(h.float()).chunk(2, dim=-1)
    torch.testing.assert_close(mu, expected_mu, rtol=0, atol=0)
    torch.testing.assert_close(logvar, expected_logvar, rtol=0, atol=0)


def test_vq_statistics_stay_float32_under_autocast():
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(model_type="vqvae", architecture="conv", ema=True,
                                               **SMALL))
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(5, 1, 12, 12))
    assert out.z.dtype == out.vq_loss.dtype == torch.float32
    quantizer = model.quantizer
    for name in ("codebook", "ema_count", "ema_sum", "usage"):
        assert getattr(quantizer, name).dtype == torch.float32, name
    assert not torch.equal(quantizer.ema_count, torch.ones_like(quantizer.ema_count))  # updated


@pytest.fixture
def fp16_autocast(monkeypatch):
    """The trainers' fp16 path on the CPU: train.amp=fp16 is refused there by design (a user
    setting; CPU fp16 is slow), but CPU autocast runs float16 since torch 2.4, so the path that
    CUDA GPUs without bf16 take (autocast fp16 and an enabled GradScaler) is testable here."""
    monkeypatch.setattr(loop, "autocast_dtype", lambda setting, device: torch.float16)


@pytest.mark.parametrize("name", ["mlp_vae", "vqvae"])
def test_image_training_in_fp16_with_loss_scaling(name, image_config, fp16_autocast, monkeypatch,
                                                  one_thread):
    dtypes = set()
    for cls in (image_models.ImageVAE, image_models.VQVAE):
        def forward(self, x, generator=None, _original=cls.forward):
            out = _original(self, x, generator)
            if self.training:
                dtypes.add(out.recon.dtype)
            return out
        monkeypatch.setattr(cls, "forward", forward)
    extra = ["model.model_type=vqvae", "model.architecture=conv", "model.ema=true"] * (
        name == "vqvae")
    cfg = image_config(*extra, "train.max_steps=8", "train.log_every=1", "train.threads=1")
    result = train_image(cfg, log=_quiet)
    assert result.step == 8 and dtypes == {torch.float16}
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert len(losses) == 8 and all(math.isfinite(loss) for loss in losses)
    ckpt = load_checkpoint(result.run_dir / "last", CheckpointKind("image", ImageConfig),
                           with_trainer=True)
    scaler = ckpt.trainer_state["scaler"]  # a disabled GradScaler saves {}
    assert scaler["scale"] > 0 and "_growth_tracker" in scaler
    torch.manual_seed(cfg.train.seed)  # train_image seeds torch just before building the model
    initial = build_image_model(cfg.model).state_dict()
    assert any(not torch.equal(initial[k], v) for k, v in ckpt.model_state.items())
    assert ckpt.model_state["net.to_latent.weight" if name == "mlp_vae" else
                            "encoder.1.weight"].dtype == torch.float32


def test_a_text_step_in_fp16_with_loss_scaling(tiny_config, fp16_autocast, monkeypatch,
                                               one_thread):
    from textvae.text.training.train import Trainer, train

    scalers, initial = [], {}
    original = Trainer.run

    def run(self):
        scalers.append(self.scaler)
        initial.update({k: v.clone() for k, v in self.model.state_dict().items()})
        result = original(self)
        initial.update({f"after {k}": v for k, v in self.model.state_dict().items()})
        return result

    monkeypatch.setattr(Trainer, "run", run)
    # The GRU: oneDNN has no fp16 LSTM primitive on CPUs (the LSTM raises "could not create a
    # primitive descriptor"); on CUDA cuDNN runs both.
    cfg = tiny_config("model.rnn_type=gru", "train.max_steps=3", "train.log_every=1")
    result = train(cfg, progress=False, log=_quiet)
    assert result.step == 3
    (scaler,) = scalers
    assert scaler.is_enabled() and scaler.get_scale() > 0
    assert any(not torch.equal(v, initial[f"after {k}"]) for k, v in initial.items()
               if not k.startswith("after "))
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in rows if r["split"] == "train")
