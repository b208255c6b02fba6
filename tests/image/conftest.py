import numpy as np
import pytest

from textvae.image.data import IDX_FILES, write_idx


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
    from textvae.image.config import load_image_config

    def make(*overrides: str, out: str = "run"):
        return load_image_config(None, [
            "data.source=mnist", f"data.path={fake_mnist}", "data.valid_size=5",
            "model.image_size=12", "model.hidden_dims=[13]", "model.latent_dim=7",
            "model.channels=[5, 9]", "model.codebook_size=11", "model.code_dim=3",
            "train.batch_size=5", "train.log_every=2", "train.epochs=3",
            f"train.out_dir={tmp_path / out}", *overrides,
        ])

    return make
