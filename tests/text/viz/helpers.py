"""Tiny trained runs shared by the picture tests (textvae.text.viz and ``textvae plot|report``).

Sizes are odd and distinct (embed 11, hidden 13/17, latent 7, batch 7, 23 sentences pictured)
so that a transposed dimension cannot pass by accident.
"""

from pathlib import Path

from textvae.text.run.config import load_config
from textvae.text.training.train import train

TINY = [
    "data.source=grammar",
    "data.grammar_size=500",  # 25 validation sentences
    "model.embed_dim=11",
    "model.encoder_hidden_dim=13",
    "model.decoder_hidden_dim=17",
    "model.latent_dim=7",
    "train.batch_size=7",
    "train.log_every=3",
    "train.eval_every=9",
]
SENTENCES = 23  # validation sentences pictured (of 25)


def train_run(out: Path, *overrides: str) -> Path:
    cfg = load_config(None, [*TINY, "train.max_steps=19", *overrides, f"train.out_dir={out}"])
    train(cfg, progress=False, log=lambda message: None)
    return out


def png_size(path: Path) -> tuple[int, int]:
    """The (width, height) of a valid PNG; fails on anything else."""
    from PIL import Image

    assert path.is_file() and path.stat().st_size > 0, path
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
        size = image.size
    assert size[0] > 0 and size[1] > 0
    return size
