import numpy as np
import pytest

from textvae.image.run.data import IDX_FILES, write_idx


@pytest.fixture
def fake_mnist(tmp_path):
    """A tiny MNIST in LeCun's IDX format: 23 train and 9 test images of 12x12 (odd counts)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 23), ("test", 9)):
        images_file, labels_file = IDX_FILES[split]
        write_idx(tmp_path / images_file, rng.integers(0, 256, (n, 12, 12), dtype=np.uint8))
        write_idx(tmp_path / labels_file, rng.integers(0, 10, (n,), dtype=np.uint8))
    return tmp_path


@pytest.fixture
def image_config(tmp_path, fake_mnist):
    """A seconds-long image run on the fake MNIST, with odd distinct sizes."""
    from textvae.image.run.config import load_image_config

    def make(*overrides: str, out: str = "run"):
        return load_image_config(None, [
            "data.source=mnist", f"data.path={fake_mnist}", "data.valid_size=5",
            "model.image_size=12", "model.hidden_dims=[13]", "model.latent_dim=7",
            "model.channels=[5, 9]", "model.codebook_size=11", "model.code_dim=3",
            "train.batch_size=5", "train.log_every=2", "train.epochs=3",
            f"train.out_dir={tmp_path / out}", *overrides,
        ])

    return make


@pytest.fixture
def labelled_mnist(tmp_path):
    """A tiny MNIST of 3 classes in IDX format: 47 train and 11 test images of 9x9, every class
    present in each part (odd counts). Its own folder: ``fake_mnist`` may share tmp_path."""
    folder = tmp_path / "labelled_mnist"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for split, n in (("train", 47), ("test", 11)):
        images_file, labels_file = IDX_FILES[split]
        write_idx(folder / images_file, rng.integers(0, 256, (n, 9, 9), dtype=np.uint8))
        write_idx(folder / labels_file, np.arange(n, dtype=np.uint8) % 3)
    return folder


@pytest.fixture
def semisup_config(tmp_path, labelled_mnist):
    """A seconds-long M2 run on the 3-class fake MNIST: 40 training images (2 labelled per
    class), 7 validation images, latent 7, hidden 11, classifier 13."""
    from textvae.image.run.config import load_image_config

    def make(*overrides: str, out: str = "run"):
        return load_image_config(None, [
            "model.model_type=m2", "data.source=mnist", f"data.path={labelled_mnist}",
            "data.valid_size=7", "labels.labels_per_class=2", "model.image_size=9",
            "model.hidden_dims=[11]", "model.classifier_dims=[13]", "model.latent_dim=7",
            "train.batch_size=5", "labels.labelled_batch_size=3", "train.log_every=2",
            "train.epochs=2", f"train.out_dir={tmp_path / out}", *overrides,
        ])

    return make
