"""The image trainer's input pipeline: where the training set lives, how batches are gathered,
and that on the CPU a run draws exactly the batches, binarizations and weights it drew before
the GPU pipeline (issue 20)."""

import hashlib

import pytest
import torch

import textvae.image.models.vae as image_models
import textvae.image.training.train as image_train
from textvae.core.checkpoint import CheckpointKind, load_checkpoint
from textvae.image.run.config import ImageConfig
from textvae.image.training.train import gather_batch, place_training_images, train_image

# Fingerprints of 5 steps on the fake MNIST (tests/image/conftest.py), recorded on the code
# before the pipeline and precision changes (one thread, float32): sha256 prefixes of the
# training inputs the model saw (after binarization), of the trainer's generator state after the
# last step, and of the weights. The first two are integers drawn from seeded Mersenne Twister
# streams, the same on every machine.
CASES = {
    "mlp_binary": [],
    "conv_grey_gaussian": ["model.architecture=conv", "model.decoder=gaussian", "data.pixels=grey"],
    "vqvae_ema": ["model.model_type=vqvae", "model.architecture=conv", "model.ema=true"],
}
EXPECTED = {
    "mlp_binary": ("df5f8c3fc2e464a9", "c29120064b22e880", "1a995ed8fdfaea19"),
    "conv_grey_gaussian": ("8806b322d166c4d9", "86e7792c3116ed4d", "b27e42bb06bd2fc0"),
    "vqvae_ema": ("20b0a156238dcdfc", "6afbb1fdcf15fc4b", "685d50348ab5437f"),
}
# The weights' last bits depend on the float kernels (the CPU's vector units, the torch build),
# so their hashes are checked where they were recorded and the run is otherwise compared with
# a replay of the old step (test_cpu_steps_match_a_replay_of_the_old_step).
RECORDED_ON = ("2.13.0+cpu", "AVX512")


def _quiet(*_):
    pass


def _five_steps(image_config, monkeypatch, case):
    """Train 5 steps; returns (inputs hash, generator hash, weights hash, weights)."""
    seen = hashlib.sha256()
    for cls in (image_models.ImageVAE, image_models.VQVAE):
        def forward(self, x, generator=None, _original=cls.forward):
            if self.training:
                seen.update(x.detach().cpu().numpy().tobytes())
            return _original(self, x, generator)
        monkeypatch.setattr(cls, "forward", forward)
    cfg = image_config(*CASES[case], "train.amp=off", "train.threads=1", "train.max_steps=5")
    result = train_image(cfg, log=_quiet)
    ckpt = load_checkpoint(result.run_dir / "last", CheckpointKind("image", ImageConfig),
                           with_trainer=True)
    weights = hashlib.sha256()
    for key in sorted(ckpt.model_state):
        weights.update(key.encode())
        weights.update(ckpt.model_state[key].numpy().tobytes())
    generator = hashlib.sha256(ckpt.trainer_state["generator"].numpy().tobytes())
    return (seen.hexdigest()[:16], generator.hexdigest()[:16], weights.hexdigest()[:16],
            ckpt.model_state)


@pytest.mark.parametrize("case", CASES)
def test_cpu_runs_draw_the_batches_and_binarizations_they_drew_before(
        case, image_config, monkeypatch, one_thread):
    inputs, generator, weights, _ = _five_steps(image_config, monkeypatch, case)
    assert (inputs, generator) == EXPECTED[case][:2]
    if (torch.__version__, torch.backends.cpu.get_cpu_capability()) == RECORDED_ON:
        assert weights == EXPECTED[case][2]


def test_cpu_steps_match_a_replay_of_the_old_step(image_config, monkeypatch, one_thread):
    """The old step, written out: CPU gather, binarize with the seeded CPU generator, forward,
    objective, clipping at the config's 5.0, Adam. Five trainer steps give bit-identical weights on any machine."""
    from textvae.core.training.optim import adam_optimizer
    from textvae.image.models.registry import build_image_model
    from textvae.image.objectives.evaluate import image_objective
    from textvae.image.run.data import binarize, load_image_splits

    *_, trained = _five_steps(image_config, monkeypatch, "mlp_binary")
    cfg = image_config("train.amp=off", "train.threads=1", "train.max_steps=5", out="replay")
    torch.manual_seed(cfg.train.seed)
    images = load_image_splits(cfg.data, splits=("train", "valid")).images["train"]
    model = build_image_model(cfg.model)
    optimizer = adam_optimizer(list(model.parameters()), cfg.train.lr)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    step = 0
    for epoch in range(2):  # 18 images in batches of 5: steps 1-4, then step 5
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(
            cfg.train.seed * 1_000_003 + epoch))
        for batch in order.split(cfg.train.batch_size):
            if step == 5:
                break
            x = binarize(images[batch], generator)
            terms = image_objective(model, model(x, generator=generator), x)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            optimizer.step()
            step += 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_on_the_cpu_the_training_set_stays_where_it_is():
    images = torch.rand(7, 1, 3, 3)
    assert place_training_images(images, torch.device("cpu")) is images
    batch = torch.tensor([4, 0, 6])
    assert torch.equal(gather_batch(images, batch, torch.device("cpu")), images[[4, 0, 6]])


def test_a_set_too_large_for_the_gpu_stays_in_host_memory(monkeypatch):
    # A quarter of the free memory is the most the set may take; the set here takes more.
    images = torch.rand(11, 1, 5, 5)  # 1,100 bytes
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * 1_100, 10**9))
    assert place_training_images(images, torch.device("cuda")) is images


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available here")
@pytest.mark.parametrize("resident", [True, False])
def test_cuda_batches_are_gathered_on_the_device_or_through_pinned_memory(
        resident, image_config, monkeypatch):
    """Resident or pinned, the model sees the same inputs: the same indices, binarized on the
    GPU by the trainer's CUDA generator."""
    if not resident:
        monkeypatch.setattr(image_train, "RESIDENT_FRACTION", 0.0)
    seen = []
    original = image_models.ImageVAE.forward

    def forward(self, x, generator=None):
        if self.training:
            seen.append((x.device.type, generator.device.type, x.sum().item()))
        return original(self, x, generator)

    monkeypatch.setattr(image_models.ImageVAE, "forward", forward)
    trainer_images = []
    original_init = image_train.ImageTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainer_images.append(self.train_images.device.type)

    monkeypatch.setattr(image_train.ImageTrainer, "__init__", init)
    cfg = image_config("train.max_steps=5", "train.device=cuda", "train.amp=off",
                       "train.eval_every=1000", out=f"resident_{resident}")
    train_image(cfg, log=_quiet)
    assert trainer_images == ["cuda" if resident else "cpu"]
    assert len(seen) == 5
    assert all(device == "cuda" and gen == "cuda" for device, gen, _ in seen)
    # Binary pixels: every input is 0 or 1, drawn afresh per batch.
    assert all(float(total).is_integer() for *_, total in seen)
