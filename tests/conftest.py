import pytest
import torch

from textvae.config import load_config


@pytest.fixture
def tiny_config(tmp_path):
    """A seconds-long run on a small slice of the grammar corpus, with odd distinct sizes."""

    def make(*overrides: str, out: str = "run"):
        return load_config(
            None,
            [
                "data.source=grammar",
                "data.grammar_size=200",
                "model.embed_dim=11",
                "model.encoder_hidden_dim=13",
                "model.decoder_hidden_dim=17",
                "model.latent_dim=7",
                "model.dropout=0.1",
                "train.batch_size=7",
                "train.word_dropout=0.3",
                "train.log_every=4",
                # float32 whatever the CPU: train.amp=auto would pick bf16 on CPUs with AMX, and
                # the tests' figures must not depend on the machine (tests/test_device.py covers auto).
                "train.amp=off",
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
