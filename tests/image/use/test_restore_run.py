"""Image-to-image runs end to end on the fake MNIST (12x12): training for each degradation,
the evaluation's figures, and the restore, degrade and checkerboard commands."""

import json

import numpy as np
import pytest
import torch

from textvae.cli import main
from textvae.image.training.train import ImageTrainer, train_image
from textvae.image.use.report import evaluate_run

CONV = ("model.architecture=conv", "data.pixels=grey", "model.decoder=gaussian")


@pytest.fixture
def restore_run(image_config, one_thread):
    """Train a seconds-long restoration run of a degradation; returns its directory."""

    def make(kind: str) -> str:
        cfg = image_config(*CONV, f"data.degrade={kind}", "train.epochs=1", out=f"run_{kind}")
        return train_image(cfg, log=lambda _: None).run_dir

    return make


@pytest.mark.parametrize("kind", ["noise", "mask", "downsample"])
def test_training_and_evaluation_of_each_degradation(restore_run, kind, one_thread):
    run = restore_run(kind)
    result = evaluate_run(run, iw_k=0, log=lambda _: None)
    assert result["degrade"] == kind and result["images"] == 9
    assert 0 < result["psnr_restored_db"] < 100
    key = {"noise": "psnr_median3x3_db", "mask": "psnr_hidden_half_restored_db",
           "downsample": "psnr_bicubic_db"}[kind]
    assert 0 < result[key] < 100


def test_the_encoder_sees_the_degraded_images(image_config, fake_mnist, one_thread):
    from textvae.image.models.registry import build_image_model
    from textvae.image.run.data import load_image_splits

    cfg = image_config(*CONV, "data.degrade=mask")
    data = load_image_splits(cfg.data, splits=("train", "valid"))
    trainer = ImageTrainer(cfg, data, build_image_model(cfg.model), torch.device("cpu"),
                           log=lambda _: None)
    hidden = trainer.valid_inputs == 0.5
    assert hidden.flatten(1).sum(1).ge(72).all()  # half of 144 pixels at least
    assert not torch.equal(trainer.valid_inputs, trainer.valid_images)
    seen = []
    trainer.model.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    x = data.images["train"][:5]
    trainer.train_step(x)
    assert (seen[0] == 0.5).flatten(1).sum(1).ge(72).all()  # a fresh mask, not the clean x


def _png(path, side: int, value: int = 128) -> str:
    from PIL import Image

    Image.fromarray(np.full((side, side), value, dtype=np.uint8)).save(path)
    return str(path)


def test_restore_single_and_batch(restore_run, tmp_path, capsys):
    run = str(restore_run("noise"))
    one = _png(tmp_path / "one.png", 12)
    two = _png(tmp_path / "two.png", 12, 30)
    assert main(["image", "restore", "-c", run, "--input", one, "--out",
                 str(tmp_path / "r.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "r.png") as image:
        assert image.size == (12, 12)
    assert main(["image", "restore", "-c", run, "--input", one, two, "--out-dir",
                 str(tmp_path / "batch")]) == 0
    assert sorted(p.name for p in (tmp_path / "batch").iterdir()) == ["one.png", "two.png"]
    # The batch and the single call restore the same input the same way.
    assert (tmp_path / "batch" / "one.png").read_bytes() == (tmp_path / "r.png").read_bytes()


def test_superresolution_takes_half_size_inputs(restore_run, tmp_path, capsys):
    run = str(restore_run("downsample"))
    assert main(["image", "restore", "-c", run, "--input", _png(tmp_path / "s.png", 6),
                 "--out", str(tmp_path / "big.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "big.png") as image:
        assert image.size == (12, 12)
    capsys.readouterr()
    assert main(["image", "restore", "-c", run, "--input", _png(tmp_path / "f.png", 12),
                 "--out", str(tmp_path / "no.png")]) == 2
    assert "is 12x12 pixels; the model reads 6x6 images" in capsys.readouterr().err


def test_restore_bad_inputs_are_one_error_and_write_nothing(restore_run, tmp_path, capsys):
    run = str(restore_run("mask"))
    good = _png(tmp_path / "good.png", 12)
    wrong_size = _png(tmp_path / "big.png", 13)
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    missing = str(tmp_path / "missing.png")
    out_dir = tmp_path / "out"
    capsys.readouterr()
    for bad, message in ((wrong_size, "is 13x13 pixels; the model reads 12x12 images"),
                         (str(not_image), "is not an image that can be read"),
                         (missing, "input image not found")):
        # The bad input comes after a good one: the good one must not be written either.
        assert main(["image", "restore", "-c", run, "--input", good, bad,
                     "--out-dir", str(out_dir)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("textvae: error: ") and err.count("\n") == 1 and message in err
        assert not out_dir.exists() or not any(out_dir.iterdir())
        assert main(["image", "restore", "-c", run, "--input", bad,
                     "--out", str(tmp_path / "single.png")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "single.png").exists()


def test_pictures_and_degraded_examples(restore_run, tmp_path, capsys):
    run = str(restore_run("downsample"))
    assert main(["image", "restore", "-c", run, "--pictures", str(tmp_path / "p.png"),
                 "--n", "5"]) == 0
    from PIL import Image

    with Image.open(tmp_path / "p.png") as image:  # 3 rows of 5 images of 12, borders of 2
        assert image.size == (5 * 14 + 2, 3 * 14 + 2)
    assert main(["image", "degrade", "-c", run, "--out-dir", str(tmp_path / "d"), "--n", "3"]) == 0
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert names[0] == "test_0000_clean.png" and len(names) == 6
    # A degraded example goes straight back into restore.
    assert main(["image", "restore", "-c", run, "--input", str(tmp_path / "d" / names[1]),
                 "--out", str(tmp_path / "back.png")]) == 0


def test_checkerboard_command_scores_two_conv_vaes(image_config, tmp_path, capsys, one_thread):
    runs = []
    for up in ("resize", "transpose"):
        cfg = image_config("model.architecture=conv", f"model.upsample={up}", "train.epochs=1",
                           out=up)
        runs.append(str(train_image(cfg, log=lambda _: None).run_dir))
    capsys.readouterr()
    assert main(["image", "checkerboard", *runs, "--out", str(tmp_path / "pair.png"),
                 "--n", "4"]) == 0
    text = capsys.readouterr().out
    scores = json.loads(text[: text.rindex("}") + 1])
    assert [s["upsample"] for s in scores.values()] == ["resize", "transpose"]
    assert all(s["checkerboard_score_samples_stride2"] > 0 for s in scores.values())
    assert (tmp_path / "pair.png").is_file()
    assert main(["image", "checkerboard", runs[0], "--out", str(tmp_path / "x.png")]) == 2
    # The evaluation of a conv VAE reports the score too.
    assert "checkerboard_score_reconstructions_stride2" in evaluate_run(runs[1], iw_k=0,
                                                                         log=lambda _: None)
