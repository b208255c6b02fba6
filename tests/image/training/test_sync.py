"""An image training step never makes the host wait for the device, except on logging steps
(issue 20; the detector is tests/sync.py)."""

import pytest
import torch
from sync import SyncDetector

from textvae.image.models.registry import build_image_model
from textvae.image.run.data import load_image_splits
from textvae.image.training.train import ImageTrainer


@pytest.mark.parametrize("case", [
    (),
    ("model.architecture=conv", "model.decoder=gaussian", "data.pixels=grey"),
    ("model.model_type=vqvae", "model.architecture=conv", "model.ema=true"),
], ids=["mlp-binary", "conv-grey-gaussian", "vqvae-ema"])
def test_an_image_training_step_never_waits_on_the_host(image_config, one_thread, case):
    cfg = image_config("train.device=cpu", "train.amp=off", "train.threads=1", *case)
    data = load_image_splits(cfg.data, splits=("train", "valid"))
    model = build_image_model(cfg.model)
    trainer = ImageTrainer(cfg, data, model, torch.device("cpu"), log=lambda m: None,
                           progress=False)
    batch = trainer.batches(0)[0]
    trainer.train_batch(batch)  # the first step builds the optimiser's state
    with SyncDetector() as syncs:
        terms, images = trainer.train_batch(batch)
    # The VQ-VAE's dead-code restart is the one wait left: how many codes restart (and so how
    # many random picks it draws) depends on the data.
    others = [r for r in syncs.records if "_restart_dead_codes" not in r.where()]
    assert not others, syncs.report()
    assert images == len(batch) and torch.isfinite(terms.loss)
