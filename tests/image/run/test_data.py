import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from textvae.core.errors import DataError
from textvae.image.run.config import ImageDataConfig
from textvae.image.run.data import (
    binarize,
    binarize_fixed,
    evaluation_images,
    load_image_splits,
    load_mnist_hf,
    load_mnist_idx,
    read_idx,
    write_idx,
)

# The real MNIST, where this machine keeps it; tests that need it skip without it.
MNIST_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "mnist"


def test_idx_round_trip_keeps_shape_and_values(tmp_path):
    a = np.arange(3 * 5 * 7, dtype=np.uint8).reshape(3, 5, 7)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", a)), a)


def test_bad_idx_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "missing.gz")
    with gzip.open(tmp_path / "bad.gz", "wb") as fh:
        fh.write(b"\x01\x02\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(tmp_path / "bad.gz")
    with gzip.open(tmp_path / "short.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DataError, match="header says 5 values"):
        read_idx(tmp_path / "short.gz")


def test_mnist_idx_loads_scaled_images_and_labels(fake_mnist):
    images, labels = load_mnist_idx(fake_mnist, "test")
    raw = read_idx(fake_mnist / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (9, 1, 12, 12) and labels.shape == (9,)
    assert torch.allclose(images[:, 0], torch.from_numpy(raw.copy()).float() / 255)


def test_missing_mnist_names_the_files(tmp_path):
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_mnist_idx(tmp_path, "train")


def test_valid_is_held_out_from_the_end_of_train(fake_mnist):
    data = load_image_splits(ImageDataConfig(path=str(fake_mnist), valid_size=5))
    full, _ = load_mnist_idx(fake_mnist, "train")
    assert len(data.images["train"]) == 18 and len(data.images["valid"]) == 5
    assert torch.equal(data.images["valid"], full[-5:]) and len(data.images["test"]) == 9


def test_dynamic_binarization_is_fresh_per_draw_and_test_binarization_is_fixed():
    x = torch.full((7, 1, 5, 3), 0.5)
    g = torch.Generator().manual_seed(0)
    a, b = binarize(x, g), binarize(x, g)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)
    assert torch.equal(binarize_fixed(x, 3), binarize_fixed(x, 3))
    cfg = ImageDataConfig(binarize_seed=3)
    assert torch.equal(evaluation_images(cfg, x, "test"), evaluation_images(cfg, x, "test"))
    assert torch.equal(evaluation_images(ImageDataConfig(pixels="grey"), x, "test"), x)


def test_binarization_matches_intensity_on_average():
    x = torch.full((20000, 1, 1, 1), 0.3)
    assert abs(binarize_fixed(x, 0).mean().item() - 0.3) < 0.01


def test_mnist_from_datasets_local_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    for split, n in (("train", 11), ("test", 7)):
        imgs = rng.integers(0, 256, (n, 12, 12), dtype=np.uint8)
        table = pa.table({"image": [im.tolist() for im in imgs], "label": list(range(n))})
        pq.write_table(table, tmp_path / f"{split}.parquet")
    cfg = ImageDataConfig(
        source="hf", hf_name="parquet",
        hf_data_files={s: str(tmp_path / f"{s}.parquet") for s in ("train", "test")},
    )
    images, labels = load_mnist_hf(cfg, "test")
    assert images.shape == (7, 1, 12, 12) and labels.tolist() == list(range(7))
    assert torch.allclose(images[:, 0], torch.from_numpy(imgs).float() / 255)
    bad = ImageDataConfig(source="hf", hf_name="parquet", image_column="pixels",
                          hf_data_files=cfg.hf_data_files)
    with pytest.raises(DataError, match="no column 'pixels'"):
        load_mnist_hf(bad, "train")


def test_sprites_source_gives_binary_64px_images_with_factor_labels():
    data = load_image_splits(ImageDataConfig(source="sprites", sprites_size=31, valid_size=5))
    assert data.images["train"].shape == (26, 1, 64, 64)
    assert data.labels["valid"].shape == (5, 5) and len(data.images["test"]) == 3
    assert set(data.images["train"].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"real MNIST not found in {MNIST_DIR}")
def test_real_mnist_has_the_standard_sizes():
    images, labels = load_mnist_idx(MNIST_DIR, "test")
    assert images.shape == (10000, 1, 28, 28) and labels.bincount().tolist()[0] == 980
