"""A seconds-long training run for tests that need a trained model: the built-in grammar corpus
at odd, distinct sizes, in float32 (import it as ``from tiny import train_tiny``, like
``tests/sync.py``)."""

from textvae.config import load_config
from textvae.train import train

TINY_RUN = [
    "data.source=grammar",
    "data.grammar_size=200",
    "model.embed_dim=11",
    "model.encoder_hidden_dim=13",
    "model.decoder_hidden_dim=17",
    "model.latent_dim=7",
    "train.batch_size=7",
    # float32 whatever the CPU: train.amp=auto would pick bf16 on CPUs with AMX, and the tests'
    # figures must not depend on the machine (tests/test_device.py covers auto).
    "train.amp=off",
]


def train_tiny(out, *overrides: str):
    """Train a tiny model into ``out`` (``overrides`` win over :data:`TINY_RUN`); returns ``out``."""
    train(load_config(None, [*TINY_RUN, *overrides, f"train.out_dir={out}"]), progress=False,
          log=lambda message: None)
    return out
