import pytest

from .helpers import train_run


@pytest.fixture(scope="session")
def vae_run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("viz-vae") / "run")


@pytest.fixture(scope="session")
def lm_run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("viz-lm") / "run", "model.model_type=lm",
                     "train.max_steps=5")
