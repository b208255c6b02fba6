import pytest
import torch
import torch.nn.functional as F

from textvae.core.errors import ConfigError
from textvae.image.models.registry import build_image_model
from textvae.image.models.vae import ImageModelConfig
from textvae.image.models.vqvae2 import VQVAE2
from textvae.image.objectives.evaluate import codebook_usage, evaluate_images, image_objective
from textvae.image.run.config import ImageConfig
from textvae.image.training.train import load_image_model, train_image
from textvae.image.use.report import evaluate_run
from textvae.text.run.config import from_dict

# Odd, distinct sizes: batch 5, 3 channels, image side 13 padded to 16 (bottom 4x4, top 2x2),
# code vectors of 3, a bottom codebook of 11 and a top one of 7.
B, C = 5, 3
SMALL = dict(model_type="vqvae2", architecture="conv", image_channels=C, image_size=13, pad_to=16,
             channels=[5, 9], codebook_size=11, top_codebook_size=7, code_dim=3,
             residual_blocks=1, ema=True)


def _model(**overrides) -> VQVAE2:
    torch.manual_seed(0)
    return build_image_model(ImageModelConfig(**{**SMALL, **overrides}))


def _quiet(*_):
    pass


@pytest.mark.parametrize("kw, top, bottom", [
    (dict(), 2, 4),                                              # 13 padded to 16, two layers
    (dict(image_size=24, pad_to=None, channels=[5]), 6, 12),     # no padding, one layer
    (dict(image_size=9, pad_to=24, channels=[5, 9]), 3, 6),      # wide padding
])
def test_levels_have_the_configured_shapes(kw, top, bottom):
    model = _model(**kw)
    side = model.image_size
    out = model(torch.rand(B, C, side, side))
    assert out.recon.shape == (B, C, side, side)  # cropped back to the data's size
    assert out.top_codes.shape == (B, top, top) and out.codes.shape == (B, bottom, bottom)
    assert out.top_codes.max() < 7 and out.codes.max() < 11
    assert out.z.shape == (B, 3, bottom, bottom)
    assert out.vq_loss.shape == (B,) and (out.vq_loss > 0).all()
    assert model.code_levels == [(top, 7), (bottom, 11)]


def test_top_codebook_defaults_to_the_bottom_size():
    assert _model(top_codebook_size=None).code_levels == [(2, 11), (4, 11)]


@pytest.mark.parametrize("model_type", ["vqvae", "vqvae2"])
def test_encode_codes_then_decode_reproduces_the_forward_pass(model_type):
    kw = dict(SMALL) if model_type == "vqvae2" else dict(
        model_type="vqvae", architecture="conv", image_channels=C, image_size=12,
        channels=[5, 9], codebook_size=11, code_dim=3, ema=True)
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(**kw))
    x = torch.rand(B, C, kw["image_size"], kw["image_size"])
    model(x)  # one training-mode pass: the first step fills the codebook from the data
    model.eval()
    codes = model.encode_codes(x)
    assert [tuple(c.shape) for c in codes] == [(B, s, s) for s, _ in model.code_levels]
    assert all(c.dtype == torch.long and c.max() < k for c, (_, k) in zip(codes, model.code_levels, strict=True))
    out = model(x)
    assert torch.equal(codes[-1], out.codes)
    assert torch.allclose(model.decode_code_maps(codes), out.recon, atol=1e-6)


def test_encode_codes_updates_no_codebook_even_in_training_mode():
    model = _model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.encode_codes(torch.rand(B, C, 13, 13))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model(torch.rand(B, C, 13, 13))  # whereas a training forward pass moves the EMA codebooks
    assert not torch.equal(before["quantizer_top.codebook"], model.quantizer_top.codebook)


def test_decode_code_maps_refuses_maps_of_the_wrong_sides():
    model = _model()
    with pytest.raises(ValueError, match="do not fit the levels"):
        model.decode_code_maps([torch.zeros(B, 4, 4, dtype=torch.long)] * 2)


def test_input_is_zero_padded_centrally_and_output_cropped_to_the_centre():
    model = _model().eval()
    x = torch.rand(B, C, 13, 13)
    # 13 -> 16: one zero row/column before the image and two after it, on each axis.
    h_b, z_t = model._encode(x)
    assert torch.equal(h_b, model.bottom_encoder(F.pad(x, (1, 2, 1, 2))))
    codes_t, codes_b = model.encode_codes(x)
    q_t, q_b = model.quantizer_top.lookup(codes_t), model.quantizer_bottom.lookup(codes_b)
    raw = model.decoder(torch.cat([q_b, model.upsample_top(q_t)], dim=1))  # (B, C, 16, 16)
    assert raw.shape[-1] == 16
    assert torch.allclose(model._decode(q_t, q_b), model.likelihood.params(raw[..., 1:14, 1:14]))


def test_loss_adds_both_levels_vq_terms():
    model = _model()
    x = torch.rand(B, C, 13, 13)
    torch.manual_seed(1)
    out = model(x)
    terms = image_objective(model, out, x)
    assert terms.loss.item() == pytest.approx((terms.reconstruction + out.vq_loss.mean()).item(),
                                             rel=1e-5)
    # Each quantizer's own loss on its input, recomputed: their sum is the model's vq_loss.
    model.eval()
    h_b, z_t = model._encode(x)
    _, _, loss_t = model.quantizer_top(z_t)
    q_t = model.quantizer_top.lookup(model.quantizer_top.nearest(z_t))
    _, _, loss_b = model.quantizer_bottom(model._bottom_z(h_b, q_t))
    assert torch.allclose(model(x).vq_loss, loss_t + loss_b, atol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    ({"architecture": "mlp"}, "'vqvae2' needs model.architecture 'conv'"),
    ({"image_size": 28}, r"model.image_size 28\) must be divisible by 8 .* e.g. 32"),
    ({"image_size": 28, "pad_to": 30}, r"model.pad_to 30\) must be divisible by 8"),
    ({"image_size": 28, "pad_to": 24}, "at least model.image_size 28"),
    ({"image_size": 16, "top_codebook_size": 0}, "top_codebook_size must be positive"),
    ({"image_size": 16, "residual_blocks": -1}, "residual_blocks"),
    ({"model_type": "vqvae", "pad_to": 16}, "are VQ-VAE-2 settings"),
    ({"model_type": "vae", "top_codebook_size": 5}, "are VQ-VAE-2 settings"),
])
def test_bad_vqvae2_configs_are_refused_with_one_clear_message(overrides, message):
    model = {"model_type": "vqvae2", "architecture": "conv", "channels": [4, 4], **overrides}
    with pytest.raises(ConfigError, match=message):
        from_dict(ImageConfig, {"model": model})


def test_evaluation_reports_usage_per_level():
    model = _model()
    x = torch.rand(7, C, 13, 13)
    model(x)  # fill the codebooks from the data
    result = evaluate_images(model, x)
    top, bottom = (codebook_usage(c, k) for c, (_, k) in
                   zip(model.eval().encode_codes(x), model.code_levels, strict=True))
    assert result["codebook_usage_top"] == top["usage"]
    assert result["codebook_usage_bottom"] == bottom["usage"]
    assert result["codebook_perplexity_bottom"] == pytest.approx(bottom["perplexity"])
    assert result["codebook_usage"] == (top["used"] + bottom["used"]) / (7 + 11)
    assert 0 < result["codebook_usage"] <= 1 and "neg_elbo" not in result


VQVAE2_RUN = ["model.model_type=vqvae2", "model.architecture=conv", "model.pad_to=16",
              "model.top_codebook_size=7", "model.residual_blocks=1", "model.ema=true"]


def test_trains_resumes_and_evaluates_on_the_fake_mnist(image_config, one_thread):
    first = train_image(image_config(*VQVAE2_RUN, "train.max_steps=3"), log=_quiet)
    resumed = train_image(image_config(*VQVAE2_RUN, "train.max_steps=6"), resume=True, log=_quiet)
    assert first.step == 3 and resumed.step == 6
    model, _, meta = load_image_model(resumed.run_dir, "cpu")
    assert isinstance(model, VQVAE2) and meta["model_type"] == "vqvae2"
    assert model.code_levels == [(2, 7), (4, 11)]
    report = evaluate_run(resumed.run_dir, log=_quiet)
    assert report["images"] == 9 and report["mse_per_image"] > 0
    assert 0 < report["codebook_usage_top"] <= 1 and 0 < report["codebook_usage_bottom"] <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_on_cuda_codes_round_trip_to_the_forward_pass():
    model = _model().cuda()
    x = torch.rand(B, C, 13, 13, device="cuda")
    model(x)  # a training pass fills the codebooks from the data
    model.eval()
    codes = model.encode_codes(x)
    assert all(c.device.type == "cuda" for c in codes)
    torch.testing.assert_close(model.decode_code_maps(codes), model(x).recon)
