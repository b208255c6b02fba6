import json
import math

import pytest
import torch

from textvae.cli import main
from textvae.core.errors import ConfigError, InputError, TextVAEError
from textvae.image.models.prior import CodePrior, CodePriorConfig, build_code_prior
from textvae.image.run.config import PriorRunConfig, load_image_config
from textvae.image.training.prior_train import load_prior, split_levels, train_prior
from textvae.image.training.train import train_image
from textvae.image.use.prior_sample import class_id, class_names, evaluate_prior, sample_images

LEVELS = [(3, 5), (5, 7)]  # (side, codebook size), coarsest first: a two-level stand-in
CLASSES = 3


def _prior(num_classes: int = CLASSES) -> CodePrior:
    torch.manual_seed(0)
    cfg = CodePriorConfig(channels=[6, 4], layers=[2, 3], embedding_dim=5, condition_channels=3,
                          class_conditional=num_classes > 0)
    return build_code_prior(cfg, LEVELS, num_classes).eval()


def _codes(batch: int = 4, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(k, (batch, s, s), generator=g) for s, k in LEVELS]


def test_each_level_has_its_nll_and_the_finer_one_reads_the_coarser():
    prior = _prior()
    codes, classes = _codes(), torch.tensor([0, 1, 2, 1])
    nats = prior.log_likelihood(codes, classes)
    assert [n.shape for n in nats] == [(4,), (4,)] and all(bool((n < 0).all()) for n in nats)
    changed = [codes[0].clone(), codes[1]]
    changed[0][:, 2, 2] = (changed[0][:, 2, 2] + 1) % LEVELS[0][1]
    again = prior.log_likelihood(changed, classes)
    assert not torch.allclose(again[1], nats[1])  # the bottom prior reads the top codes
    with pytest.raises(ValueError, match="class-conditional"):
        prior.log_likelihood(codes)
    with pytest.raises(ValueError, match="do not fit"):
        prior.log_likelihood(codes[::-1], classes)


def test_sampling_every_level_is_deterministic_under_a_seed():
    prior = _prior()
    classes = torch.tensor([2, 0, 1])

    def sample(seed, temperature=1.0):
        return prior.sample(3, classes, temperature=temperature,
                            generator=torch.Generator().manual_seed(seed))

    first = sample(5)
    assert [tuple(c.shape) for c in first] == [(3, 3, 3), (3, 5, 5)]
    assert all(0 <= c.min() and c.max() < k for c, (_, k) in zip(first, LEVELS, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(first, sample(5), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, sample(6), strict=True))
    greedy = sample(5, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(greedy, sample(6, 0.0), strict=True))


def test_per_level_settings_must_fit_the_levels():
    cfg = CodePriorConfig(channels=[4, 5, 6])
    with pytest.raises(ConfigError, match="3 values but the VQ model has 2"):
        build_code_prior(cfg, LEVELS, CLASSES)
    assert build_code_prior(CodePriorConfig(class_conditional=False), LEVELS, CLASSES).num_classes == 0
    with pytest.raises(ConfigError, match="kernel_size"):
        load_image_config(None, ["model.model_type=prior", "model.kernel_size=4"])


def test_split_levels_undoes_the_flat_layout():
    codes = _codes(batch=2)
    flat = torch.cat([c.flatten(1) for c in codes], dim=1)  # (2, 9 + 25)
    assert all(torch.equal(a, b) for a, b in zip(split_levels(flat, LEVELS), codes, strict=True))


@pytest.fixture
def vq_run(image_config, tmp_path):
    """A seconds-long single-level VQ-VAE on the fake MNIST: 3x3 maps of 11 codes."""
    cfg = image_config("model.model_type=vqvae", "model.architecture=conv", "model.ema=true",
                       "train.max_steps=4", out="vq")
    train_image(cfg, log=lambda _: None)
    return tmp_path / "vq"


def _prior_config(vq_run, out, *overrides):
    return load_image_config(None, [
        "model.model_type=prior", f"model.vq_run={vq_run}", "model.channels=[6]",
        "model.layers=[2]", "model.embedding_dim=5", "model.condition_channels=3",
        "train.batch_size=5", "train.log_every=1", f"train.out_dir={out}", *overrides,
    ])


def test_prior_trains_resumes_evaluates_and_samples(vq_run, tmp_path, capsys, one_thread):
    out = tmp_path / "prior"
    cfg = _prior_config(vq_run, out, "train.max_steps=3")
    assert isinstance(cfg, PriorRunConfig)
    first = train_prior(cfg, log=lambda _: None)
    assert first.step == 3 and "bits_per_code" in first.valid
    resumed = train_prior(_prior_config(vq_run, out, "train.max_steps=5"), resume=True,
                          log=lambda _: None)
    assert resumed.step == 5
    meta = json.loads((out / "last" / "meta.json").read_text())
    assert meta["model_type"] == "prior" and meta["code_levels"] == [[3, 11]]
    assert meta["vq_checkpoint"] == str((vq_run / "best").resolve())
    assert meta["labels"]["digit"][0] == "0" and meta["image_shape"] == [1, 12, 12]

    loaded = load_prior(out, "cpu")
    figures = evaluate_prior(loaded, "valid")
    assert figures["maps"] == 5 and figures["class_conditional"]
    assert figures["bits_per_code"] == pytest.approx(figures["bits_per_code_level0"])
    assert 0 < figures["bits_per_code"] < 2 * math.log2(11)
    known = class_names(loaded)
    requested = torch.tensor([class_id(loaded, known[1])] * 2)
    g = torch.Generator().manual_seed(0)
    images = sample_images(loaded, requested, temperature=0.5, generator=g)
    assert images.shape == (2, 1, 12, 12) and 0 <= images.min() and images.max() <= 1
    again = sample_images(loaded, requested, temperature=0.5,
                          generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, again)

    capsys.readouterr()
    png = tmp_path / "s.png"
    assert main(["image", "sample", str(out), "--class", known[0], "--n", "3", "--out", str(png),
                 "--temperature", "0.7", "--seed", "2"]) == 0
    assert png.stat().st_size > 0
    grid = tmp_path / "grid.png"
    assert main(["image", "sample", str(out), "--n", str(2 * len(known)), "--out",
                 str(grid)]) == 0
    assert grid.is_file()
    capsys.readouterr()
    assert main(["image", "evaluate", str(out), "--split", "valid"]) == 0
    assert json.loads(capsys.readouterr().out)["maps"] == 5


def test_unknown_class_is_one_clear_error(vq_run, tmp_path, capsys, one_thread):
    out = tmp_path / "prior"
    train_prior(_prior_config(vq_run, out, "train.max_steps=1"), log=lambda _: None)
    loaded = load_prior(out, "cpu")
    with pytest.raises(InputError, match="unknown label digit=12; known values of digit: 0"):
        class_id(loaded, "12")
    capsys.readouterr()
    assert main(["image", "sample", str(out), "--class", "12", "--out",
                 str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textvae: error: unknown label digit=12") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_unconditional_prior_refuses_a_class(vq_run, tmp_path, one_thread):
    out = tmp_path / "prior"
    train_prior(_prior_config(vq_run, out, "train.max_steps=1", "model.class_conditional=false"),
                log=lambda _: None)
    loaded = load_prior(out, "cpu")
    assert loaded.prior.num_classes == 0 and class_names(loaded) == []
    with pytest.raises(InputError, match="unconditional"):
        class_id(loaded, "3")
    images = sample_images(loaded, None, 2, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 1, 12, 12)


def test_prior_needs_a_vq_run(image_config, tmp_path, capsys, one_thread):
    vae = image_config("train.max_steps=1", out="vae")
    train_image(vae, log=lambda _: None)
    with pytest.raises(TextVAEError, match="no discrete codes"):
        train_prior(_prior_config(tmp_path / "vae", tmp_path / "p1"), log=lambda _: None)
    with pytest.raises(TextVAEError, match="model.vq_run is not set"):
        train_prior(load_image_config(None, ["model.model_type=prior",
                                             f"train.out_dir={tmp_path / 'p2'}"]),
                    log=lambda _: None)
    # --class on a VAE run is a usage error, and VAE sampling is unchanged.
    assert main(["image", "sample", str(tmp_path / "vae"), "--class", "3", "--out",
                 str(tmp_path / "v.png")]) == 2
    assert "--class and --temperature sample a PixelCNN prior run" in capsys.readouterr().err


class _FakeJudge:
    """A judge that calls every image of the second class (by value), and says what it is."""

    def __init__(self, factor, classes):
        self.factor, self.classes = factor, tuple(classes)

    def predict(self, images):
        return torch.full((len(images),), 1, dtype=torch.long)

    def describe(self):
        return {"judge": "fake", "judge_factor": self.factor, "judge_test_accuracy": 0.5,
                "judge_test_images": 7}


def test_evaluate_with_a_judge_scores_samples_per_class(vq_run, tmp_path, capsys, monkeypatch,
                                                        one_thread):
    import textvae.image.use.judge as judge_module

    out = tmp_path / "prior"
    train_prior(_prior_config(vq_run, out, "train.max_steps=1"), log=lambda _: None)
    known = class_names(load_prior(out, "cpu"))
    # The judge lists the classes in reverse: samples are matched to it by value, not by id.
    monkeypatch.setattr(judge_module, "load_judge",
                        lambda path, device="auto": _FakeJudge("digit", known[::-1]))
    capsys.readouterr()
    assert main(["image", "evaluate", str(out), "--split", "valid", "--judge", "j",
                 "--per-class", "2", "--temperature", "0.5"]) == 0
    samples = json.loads(capsys.readouterr().out)["samples"]
    assert samples["images"] == 2 * len(known) and samples["per_class"] == 2
    assert samples["judge"] == "fake" and samples["temperature"] == 0.5
    assert samples["carried"] == pytest.approx(1 / len(known), abs=1e-4)
    assert samples["carried_per_class"] == {k: float(k == known[-2]) for k in known}
    monkeypatch.setattr(judge_module, "load_judge",
                        lambda path, device="auto": _FakeJudge("shape", ["0", "1", "2"]))
    assert main(["image", "evaluate", str(out), "--judge", "j"]) == 2
    assert "it cannot judge the prior's digit" in capsys.readouterr().err


def test_other_image_commands_refuse_a_prior_clearly(vq_run, tmp_path, capsys, one_thread):
    out = tmp_path / "prior"
    train_prior(_prior_config(vq_run, out, "train.max_steps=1"), log=lambda _: None)
    capsys.readouterr()
    assert main(["image", "plot", "reconstructions", str(out), "--out",
                 str(tmp_path / "r.png")]) == 2
    assert "holds a PixelCNN prior" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
def test_a_prior_trains_and_samples_on_cuda(vq_run, tmp_path, one_thread):
    out = tmp_path / "prior_cuda"
    result = train_prior(_prior_config(vq_run, out, "train.max_steps=3", "train.device=cuda",
                                       "train.amp=off"), log=lambda _: None)
    assert result.step == 3 and math.isfinite(result.valid["bits_per_code"])
    loaded = load_prior(out, "cuda")
    requested = torch.tensor([class_id(loaded, class_names(loaded)[0])] * 2)
    images = sample_images(loaded, requested, generator=torch.Generator(device="cuda").manual_seed(0))
    assert images.shape == (2, 1, 12, 12)


def test_a_sprite_vq_run_gives_its_prior_the_shape_as_class_unless_it_named_a_factor():
    from textvae.image.training.prior_train import prior_class_factor

    sprites = load_image_config(None, ["data.source=sprites", "model.image_size=64"])
    assert prior_class_factor(sprites) == "shape"
    scaled = load_image_config(None, ["data.source=sprites", "labels.factors=[scale]",
                                      "model.image_size=64"])
    assert prior_class_factor(scaled) == "scale"
    assert prior_class_factor(load_image_config(None, [])) is None
    assert load_image_config("sprites_vqvae2").labels.factors == ["shape"]
