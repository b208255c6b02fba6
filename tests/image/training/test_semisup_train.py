"""Semi-supervised training (textvae.image.training.semisup_train): the label draw, the batches, resume,
M1+M2's self-contained checkpoints and the errors, on a 3-class fake MNIST of 9x9 images."""

import json

import pytest
import torch

from textvae.core.checkpoint import CheckpointKind, load_checkpoint
from textvae.core.errors import CheckpointError, DataError, TextVAEError
from textvae.core.label_sets import LabelSet, draw_per_class
from textvae.image.run.config import SemiSupConfig
from textvae.image.training.semisup_train import (
    LABELLED_FILE,
    class_ids,
    label_set_of,
    load_semisup_model,
    train_semisup,
)
from textvae.image.training.train import load_image_model, train_image


def _quiet(*_):
    pass


def _weights(run):
    return load_checkpoint(run / "last", CheckpointKind("image", SemiSupConfig)).model_state


def test_the_label_draw_is_saved_and_balanced(semisup_config, one_thread):
    result = train_semisup(semisup_config("train.max_steps=2"), log=_quiet)
    saved = json.loads((result.run_dir / LABELLED_FILE).read_text())
    labels = torch.arange(40) % 3  # the fixture's training labels (the last 7 are valid)
    assert saved["indices"] == draw_per_class(labels.tolist(), 2, 0)
    assert sorted(labels[saved["indices"]].tolist()) == [0, 0, 1, 1, 2, 2]
    assert saved["labels"] == {"digit": ["0", "1", "2"]} and saved["label_seed"] == 0
    meta = json.loads((result.run_dir / "last" / "meta.json").read_text())
    assert meta["labels"] == saved["labels"] and meta["labelled_examples"] == 6
    other = train_semisup(semisup_config("train.max_steps=1", "labels.label_seed=4", out="b"),
                          log=_quiet)
    assert json.loads((other.run_dir / LABELLED_FILE).read_text())["indices"] != saved["indices"]


def test_a_step_takes_both_batches_and_an_epoch_covers_the_unlabelled_set(semisup_config,
                                                                         one_thread):
    from textvae.image.models.m2 import build_m2
    from textvae.image.run.data import load_image_splits
    from textvae.image.training.semisup_train import SemiSupTrainer

    cfg = semisup_config()
    data = load_image_splits(cfg.data, splits=("train", "valid"))
    labelled = [0, 1, 2, 3, 4, 5]
    trainer = SemiSupTrainer(cfg, data, build_m2(cfg.model, 3), torch.device("cpu"),
                             label_set_of(data.labels["train"]), labelled, log=_quiet)
    batches = trainer.batches(0)
    assert len(batches) == 7  # 34 unlabelled images in batches of 5
    unlabelled = torch.cat([u for _, u in batches])
    assert sorted(unlabelled.tolist()) == list(range(6, 40))
    assert all(len(li) == 3 and set(li.tolist()) <= set(labelled) for li, _ in batches)
    assert [torch.equal(a[1], b[1]) for a, b in zip(batches, trainer.batches(0), strict=True)] == [True] * 7
    assert not torch.equal(batches[0][1], trainer.batches(1)[0][1])


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(semisup_config, one_thread):
    straight = train_semisup(semisup_config("train.max_steps=9", out="a"), log=_quiet)
    train_semisup(semisup_config("train.max_steps=4", out="b"), log=_quiet)
    resumed = train_semisup(semisup_config("train.max_steps=9", out="b"), resume=True,
                            log=_quiet)
    assert resumed.step == straight.step == 9
    a, b = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_classifier_alone_sees_only_the_labelled_images(semisup_config, one_thread):
    result = train_semisup(semisup_config("model.model_type=classifier", "train.epochs=3"),
                           log=_quiet)
    assert result.step == 6  # 6 labelled images in batches of 3, 3 epochs
    assert set(result.valid) == {"accuracy", "error", "class_nll"}
    model, cfg, meta, labels = load_semisup_model(result.run_dir, "cpu")
    assert model.encoder is None and meta["model_type"] == "classifier"


def test_m1_m2_carries_m1_in_its_checkpoint(semisup_config, image_config, labelled_mnist,
                                            tmp_path, one_thread):
    m1 = train_image(image_config(f"data.path={labelled_mnist}", "model.image_size=9",
                                  "data.valid_size=7", "model.latent_dim=5", "train.max_steps=3",
                                  out="m1"), log=_quiet)
    result = train_semisup(semisup_config(f"model.m1_checkpoint={m1.run_dir}",
                                          "train.max_steps=3"), log=_quiet)
    m1_model, _, _ = load_image_model(m1.run_dir, "cpu")
    # The M1 run may go; the M1+M2 checkpoint holds M1's config and weights.
    import shutil

    shutil.rmtree(m1.run_dir)
    model, cfg, meta, _ = load_semisup_model(result.run_dir, "cpu")
    assert cfg.model.m1.latent_dim == 5 and model.input_dim == 5
    assert meta["m1"]["step"] == 3
    for key, value in m1_model.state_dict().items():
        assert torch.equal(model.m1.state_dict()[key], value), key


def test_m1_must_be_an_mlp_vae_of_the_same_images(semisup_config, image_config, labelled_mnist,
                                                  one_thread):
    ae = train_image(image_config(f"data.path={labelled_mnist}", "model.image_size=9",
                                  "data.valid_size=7", "model.model_type=ae", "train.max_steps=1",
                                  out="ae"), log=_quiet)
    with pytest.raises(TextVAEError, match="M1 must be an MLP VAE"):
        train_semisup(semisup_config(f"model.m1_checkpoint={ae.run_dir}"), log=_quiet)
    with pytest.raises(TextVAEError, match="leave them unset"):
        train_semisup(semisup_config("model.m1.latent_dim=3"), log=_quiet)


def test_labels_outside_the_label_set_are_one_clear_error():
    label_set = LabelSet({"digit": ("0", "1", "2")})
    assert class_ids(torch.tensor([2, 0, 1]), label_set).tolist() == [2, 0, 1]
    with pytest.raises(DataError, match=r"label\(s\) 7 are not in the model's label set; "
                                        r"known values of digit: 0, 1, 2"):
        class_ids(torch.tensor([0, 7]), label_set)
    with pytest.raises(DataError, match="fewer than labels_per_class=99"):
        draw_per_class([0, 1, 2] * 5, 99, 0)


def test_too_many_labels_per_class_and_sprites_are_refused(semisup_config, one_thread):
    with pytest.raises(DataError, match="class 0 has only 14 labelled examples"):
        train_semisup(semisup_config("labels.labels_per_class=20"), log=_quiet)
    with pytest.raises(TextVAEError, match="needs class labels"):
        train_semisup(semisup_config("data.source=sprites"), log=_quiet)


def test_image_commands_refuse_each_others_checkpoints(semisup_config, image_config, one_thread):
    run = train_semisup(semisup_config("train.max_steps=1"), log=_quiet).run_dir
    with pytest.raises(CheckpointError, match="semi-supervised model"):
        load_image_model(run, "cpu")
    vae = train_image(image_config("train.max_steps=1", out="vae"), log=_quiet).run_dir
    with pytest.raises(CheckpointError, match="not a semi-supervised model"):
        load_semisup_model(vae, "cpu")


MNIST_DIR = __import__("pathlib").Path(__file__).resolve().parents[3] / "data" / "mnist"


@pytest.mark.skipif(not (MNIST_DIR / "train-labels-idx1-ubyte.gz").is_file(),
                    reason=f"real MNIST not found in {MNIST_DIR}")
def test_the_mnist_configs_draw_100_labels_from_50000_training_images():
    from textvae.image.run.config import load_image_config
    from textvae.image.run.data import load_image_splits
    from textvae.image.training.semisup_train import labelled_indices

    cfg = load_image_config("mnist_m2", [f"data.path={MNIST_DIR}"])
    data = load_image_splits(cfg.data, splits=("train", "valid"))
    assert len(data.images["train"]) == 50_000 and len(data.images["valid"]) == 10_000
    label_set = label_set_of(data.labels["train"])
    assert label_set.to_dict() == {"digit": [str(d) for d in range(10)]}
    drawn = labelled_indices(cfg, class_ids(data.labels["train"], label_set))
    assert len(drawn) == 100
    assert torch.bincount(data.labels["train"][drawn], minlength=10).tolist() == [10] * 10


def test_m1_active_means_are_chosen_from_the_training_images(semisup_config, image_config,
                                                             labelled_mnist, one_thread):
    m1 = train_image(image_config(f"data.path={labelled_mnist}", "model.image_size=9",
                                  "data.valid_size=7", "model.latent_dim=5", "train.max_steps=3",
                                  out="m1"), log=_quiet)
    result = train_semisup(semisup_config(f"model.m1_checkpoint={m1.run_dir}",
                                          "model.m1_inputs=active_means", "train.max_steps=2"),
                           log=_quiet)
    model, cfg, meta, _ = load_semisup_model(result.run_dir, "cpu")
    units = cfg.model.m1_active_units
    assert units and set(units) <= set(range(5)) and model.input_dim == len(units)
    assert meta["m1"]["active_units"] == len(units)
