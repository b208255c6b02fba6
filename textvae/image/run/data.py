"""Image data: MNIST from IDX files or ``datasets``, procedural sprites, binarization.

Every source yields float images in [0, 1] of shape (N, C, H, W) and, per split, labels (N,)
or factor labels (N, F). Binarization follows CONVENTIONS.md: dynamic for training batches
(:func:`binarize` with the trainer's generator), once with a fixed seed for evaluation sets.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from textvae.core.errors import DataError
from textvae.image.run.config import ImageDataConfig

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# IDX type codes (LeCun's format): only unsigned bytes occur in MNIST.
_IDX_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a uint8 array of its stated shape.

    Raises:
        DataError: if the file is missing, truncated, or not an unsigned-byte IDX file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    if raw[2] != _IDX_UBYTE:
        raise DataError(f"{path}: IDX type 0x{raw[2]:02x} is not supported (only unsigned bytes)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise DataError(
            f"{path}: header says {count} values of shape {shape}, file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as a gzipped IDX file (for tests and small fixtures)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())
    return path


def binarize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each pixel drawn as Bernoulli(intensity). images (N, C, H, W) in [0, 1] -> {0, 1}."""
    return torch.bernoulli(images, generator=generator)


def binarize_fixed(images: Tensor, seed: int) -> Tensor:
    """Binarize once with a fixed seed, in chunks, so a set's draw does not depend on batching."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([binarize(chunk, generator) for chunk in images.split(4096)])


@dataclass
class ImageSplits:
    """Images per split, (N, C, H, W) float in [0, 1], and labels per split: (N,) class labels
    or (N, F) factor labels (sprites; (N,) with a class factor, ``labels.factors``)."""

    images: dict[str, Tensor]
    labels: dict[str, Tensor]

    @property
    def shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.images["train"].shape  # (N, C, H, W)
        return c, h, w


def _to_float(images: np.ndarray) -> Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.asarray(images, dtype=np.uint8).copy())
    t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    return t.float().div_(255.0)


def load_mnist_idx(directory: str | Path, split: str) -> tuple[Tensor, Tensor]:
    """MNIST ``train`` or ``test`` from LeCun's IDX files: images (N, 1, 28, 28), labels (N,)."""
    directory = Path(directory)
    images_file, labels_file = IDX_FILES[split]
    missing = [n for n in (images_file, labels_file) if not (directory / n).is_file()]
    if missing:
        raise DataError(
            f"MNIST files missing in {directory}: {', '.join(missing)} "
            "(set data.path to the directory holding the four IDX .gz files)"
        )
    images = read_idx(directory / images_file)
    labels = read_idx(directory / labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match")
    return _to_float(images), torch.from_numpy(labels.astype(np.int64))


def load_mnist_hf(cfg: ImageDataConfig, split: str) -> tuple[Tensor, Tensor]:
    """A split from ``datasets`` (hub name or local files); labels are -1 where there are none."""
    import datasets

    kwargs = {"data_files": cfg.hf_data_files} if cfg.hf_data_files else {}
    name = cfg.hf_splits.get(split, split)
    try:
        ds = datasets.load_dataset(cfg.hf_name, cfg.hf_config, split=name, **kwargs)
    except Exception as err:  # noqa: BLE001 - datasets raises many types; the message matters
        raise DataError(f"cannot load split {name!r} of {cfg.hf_name!r}: {err}") from None
    if cfg.image_column not in ds.column_names:
        raise DataError(
            f"{cfg.hf_name}: no column {cfg.image_column!r}; columns: {', '.join(ds.column_names)} "
            "(set data.image_column)"
        )
    images = np.stack([np.asarray(item, dtype=np.uint8) for item in ds[cfg.image_column]])
    labels = (
        torch.tensor(ds["label"], dtype=torch.long) if "label" in ds.column_names
        else torch.full((len(images),), -1, dtype=torch.long)
    )
    return _to_float(images), labels


def load_image_splits(cfg: ImageDataConfig, splits: tuple[str, ...] = ("train", "valid", "test"),
                      class_factor: str | None = None) -> ImageSplits:
    """Read the source and cut the splits asked for; ``valid`` is the last ``valid_size``
    training images (no validation split when ``valid_size`` is 0). ``class_factor`` (sprites
    only, the run's ``labels.factors``: :func:`textvae.image.run.config.class_factor`): the factor
    whose value is each sprite's label, (N,), instead of all five factors, (N, F)."""
    if class_factor is not None and cfg.source != "sprites":
        raise ValueError(f"class_factor {class_factor!r}: only sprites have factors")
    if cfg.source == "sprites":
        from textvae.image.pixels.sprites import FACTOR_NAMES, make_sprites

        # Train, then valid, then test: disjoint slices of one seeded draw.
        n_test = max(cfg.sprites_size // 10, 1)
        sprites, factors = make_sprites(cfg.sprites_size + n_test, cfg.sprites_seed)
        if class_factor is not None:  # one factor's value is the class, (N,)
            factors = factors[:, FACTOR_NAMES.index(class_factor)]
        raw = {
            "train": (sprites[: cfg.sprites_size], factors[: cfg.sprites_size]),
            "test": (sprites[cfg.sprites_size:], factors[cfg.sprites_size:]),
        }
    else:
        loader = load_mnist_idx if cfg.source == "mnist" else None
        wanted = {"train"} | ({"test"} if "test" in splits else set())
        raw = {}
        for split in sorted(wanted):
            raw[split] = loader(cfg.path, split) if loader else load_mnist_hf(cfg, split)
    images: dict[str, Tensor] = {}
    labels: dict[str, Tensor] = {}
    train_x, train_y = raw["train"]
    n_valid = min(cfg.valid_size, len(train_x) - 1)
    if n_valid > 0:
        images["valid"], labels["valid"] = train_x[-n_valid:], train_y[-n_valid:]
        train_x, train_y = train_x[:-n_valid], train_y[:-n_valid]
    images["train"], labels["train"] = train_x, train_y
    if "test" in raw:
        images["test"], labels["test"] = raw["test"]
    keep = [s for s in images if s in splits or s == "train"]
    return ImageSplits({s: images[s] for s in keep}, {s: labels[s] for s in keep})


def evaluation_images(cfg: ImageDataConfig, images: Tensor, split: str) -> Tensor:
    """The fixed evaluation copy of a split: binarized once (seed ``binarize_seed`` plus a
    per-split offset) when ``pixels`` is ``binary``; the grey levels otherwise."""
    if cfg.pixels != "binary":
        return images
    offset = {"train": 0, "valid": 1, "test": 2}[split]
    return binarize_fixed(images, cfg.binarize_seed + offset)
