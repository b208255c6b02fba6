"""The judge of generated images (textvae.image.use.judge), its convolutional classifier
(M2Config.classifier_architecture) and sprite classes (labels.factors), on a 3-class fake
MNIST of 9x9 images and a few dozen sprites."""

import json

import pytest
import torch

from textvae.core.errors import ConfigError, InputError, TextVAEError
from textvae.image.models.m2 import M2, M2Config
from textvae.image.pixels.sprites import FACTOR_NAMES
from textvae.image.run.config import class_factor, load_image_config
from textvae.image.run.data import load_image_splits
from textvae.image.training.semisup_train import train_semisup
from textvae.image.use.classify import TEST_RECORD, evaluate_semisup_run
from textvae.image.use.judge import load_judge, score_class_samples


def _quiet(*_):
    pass


CONV = ("model.model_type=classifier", "model.classifier_architecture=conv",
        "model.classifier_channels=[5, 7]", "labels.labels_per_class=null")


@pytest.fixture
def judge_run(semisup_config, one_thread):
    return train_semisup(semisup_config(*CONV, "train.max_steps=4"), log=_quiet).run_dir


def test_conv_classifier_reads_flat_pixels_as_an_image():
    cfg = M2Config(model_type="classifier", image_size=9, classifier_architecture="conv",
                   classifier_channels=[5, 7], classifier_dims=[11])
    model = M2(cfg, num_classes=3)
    logits = model.classify(torch.rand(13, 81))  # 9x9 pixels, flat
    assert logits.shape == (13, 3)
    # Two poolings take the side 9 -> 4 -> 2: 7 channels of 2x2 reach the hidden layer.
    hidden = [m for m in model.classifier if isinstance(m, torch.nn.Sequential)][0][0]
    assert hidden.in_features == 7 * 2 * 2


@pytest.mark.parametrize("changes, message", [
    ({"classifier_channels": []}, "classifier_channels"),
    ({"image_size": 3, "classifier_channels": [5, 7]}, "too small"),
    ({"m1_checkpoint": "runs/m1"}, "reads pixels"),
])
def test_conv_classifier_config_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        M2Config(model_type="classifier", classifier_architecture="conv", **changes)


def test_a_sprites_class_factor_gives_one_class_per_sprite():
    base = ["data.source=sprites", "data.sprites_size=37", "data.valid_size=5"]
    every = load_image_splits(load_image_config(None, base).data)
    cfg = load_image_config(None, [*base, "labels.factors=[shape]"])
    shape = load_image_splits(cfg.data, class_factor=class_factor(cfg))
    column = FACTOR_NAMES.index("shape")
    for split in ("train", "valid", "test"):
        assert every.labels[split].shape[1] == len(FACTOR_NAMES)
        assert shape.labels[split].dim() == 1
        assert torch.equal(shape.labels[split], every.labels[split][:, column])
        assert torch.equal(shape.images[split], every.images[split])


SEMI = ["model.model_type=classifier"]


# The check sees both sections, data and labels, in either kind of image run.
@pytest.mark.parametrize("kind", [[], SEMI], ids=["plain", "semi_supervised"])
@pytest.mark.parametrize("overrides, message", [
    (["labels.factors=[shape]"], r"labels.factors \['shape'\]: only sprites have factors to "
                                 r"choose from \(shape, .*\); MNIST's class is its digit"),
    (["data.source=sprites", "labels.factors=[colour]"], r"labels.factors \['colour'\]: only "
                                                          "sprites have factors"),
    (["data.source=sprites", "labels.factors=[shape, scale]"], "one factor at most"),
    (["data.source=sprites", "labels.factors=[shape, shape]"], "lists a factor twice"),
])
def test_class_factor_errors(kind, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_image_config(None, [*kind, *overrides])
    # A sprites run may name any of its factors; the data section alone never did the check.
    assert load_image_config(None, [*kind, "data.source=sprites", "labels.factors=[scale]"])


def test_only_sprites_labels_come_as_one_factor():
    with pytest.raises(ValueError, match="only sprites have factors"):
        load_image_splits(load_image_config(None, []).data, class_factor="shape")


def test_sprites_need_a_class_factor_for_classes(tmp_path, one_thread):
    cfg = load_image_config(None, [
        "model.model_type=classifier", "data.source=sprites", "data.sprites_size=23",
        "data.valid_size=3", "model.image_size=64", f"train.out_dir={tmp_path / 'run'}",
    ])
    with pytest.raises(TextVAEError, match=r"labels.factors \(e.g. \[shape\]\)"):
        train_semisup(cfg, log=_quiet)


def test_a_sprite_shape_judge_trains_and_reads_three_shapes(tmp_path, one_thread):
    cfg = load_image_config(None, [
        "model.model_type=classifier", "data.source=sprites", "data.sprites_size=23",
        "data.valid_size=3", "labels.factors=[shape]", "model.image_size=64",
        "model.classifier_architecture=conv", "model.classifier_channels=[3, 5, 7]",
        "model.classifier_dims=[9]", "labels.labelled_batch_size=5", "train.max_steps=2",
        f"train.out_dir={tmp_path / 'run'}",
    ])
    run = train_semisup(cfg, log=_quiet).run_dir
    result = evaluate_semisup_run(run, device="cpu")
    judge = load_judge(run, "cpu")
    assert judge.factor == "shape"
    assert judge.classes == ("0", "1", "2")
    assert judge.test_accuracy == result["accuracy"]
    assert judge.test_images == result["images"] == 2  # a tenth of 23 sprites


def test_whole_test_evaluation_is_kept_and_read_by_the_judge(judge_run):
    result = evaluate_semisup_run(judge_run, device="cpu")
    record = json.loads((judge_run / "best" / TEST_RECORD).read_text())
    assert record == {k: result[k] for k in ("step", "images", "accuracy", "error")}
    judge = load_judge(judge_run, "cpu")
    assert judge.describe() == {
        "judge": str((judge_run / "best").resolve()), "judge_factor": "digit",
        "judge_test_accuracy": result["accuracy"], "judge_test_images": 11,
    }


def test_a_partial_evaluation_is_not_kept(judge_run):
    evaluate_semisup_run(judge_run, device="cpu", max_images=5)
    evaluate_semisup_run(judge_run, device="cpu", split="valid")
    assert not (judge_run / "best" / TEST_RECORD).exists()
    with pytest.raises(TextVAEError, match="textvae image evaluate"):
        load_judge(judge_run, "cpu")


def test_a_record_of_other_weights_is_refused(judge_run):
    evaluate_semisup_run(judge_run, device="cpu")
    path = judge_run / "best" / TEST_RECORD
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "step": record["step"] + 17}))
    with pytest.raises(TextVAEError, match="measured at step"):
        load_judge(judge_run, "cpu")


def test_score_counts_images_judged_as_requested(judge_run):
    evaluate_semisup_run(judge_run, device="cpu")
    judge = load_judge(judge_run, "cpu")
    images = torch.rand(13, 1, 9, 9, generator=torch.Generator().manual_seed(3))
    predicted = judge.predict(images)
    assert predicted.shape == (13,)
    right = score_class_samples(judge, images, predicted)
    assert right["carried"] == 1.0
    assert set(right["carried_per_class"].values()) == {1.0}
    assert right["images"] == 13 and right["judge_test_accuracy"] == judge.test_accuracy
    wrong = score_class_samples(judge, images, (predicted + 1) % 3)
    assert wrong["carried"] == 0.0
    # One image of three asked for its own class: a third carried.
    half = torch.where(torch.arange(13) % 3 == 0, predicted, (predicted + 1) % 3)
    assert score_class_samples(judge, images, half)["carried"] == round(5 / 13, 4)


@pytest.mark.parametrize("images, requested, message", [
    (torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), "shape"),
    (torch.rand(4, 1, 9, 9), torch.zeros(3, dtype=torch.long), "one class per image"),
    (torch.rand(4, 1, 9, 9), torch.full((4,), 3), "ids 0..2"),
    (torch.rand(0, 1, 9, 9), torch.zeros(0, dtype=torch.long), "no images"),
])
def test_score_errors(judge_run, images, requested, message):
    evaluate_semisup_run(judge_run, device="cpu")
    judge = load_judge(judge_run, "cpu")
    with pytest.raises(InputError, match=message):
        score_class_samples(judge, images, requested)
