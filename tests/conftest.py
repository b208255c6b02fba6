import pytest
import torch
from tiny import TINY_RUN

from textvae.text.run.config import load_config


@pytest.fixture
def tiny_config(tmp_path):
    """A seconds-long run on a small slice of the grammar corpus, with odd distinct sizes."""

    def make(*overrides: str, out: str = "run"):
        return load_config(
            None,
            [
                *TINY_RUN,  # tests/tiny.py: the grammar corpus, odd sizes, float32
                "model.dropout=0.1",
                "train.word_dropout=0.3",
                "train.log_every=4",
                "train.threads=1",  # not chosen from the machine's load: figures must not move
                f"train.out_dir={tmp_path / out}",
                *overrides,
            ],
        )

    return make


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models are dominated by thread overhead; one thread also leaves the other core alone."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
