"""DistributedDataParallel on the gloo backend: two CPU processes train like one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from textvae.core.distributed import Distributed
from textvae.core.weights import read_tensor_file
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]

# Odd, distinct sizes; no dropout layers and no free bits, the two things that are not meant to
# match a single process bit for bit (see textvae/core/distributed.py). Word dropout and the
# reparameterization noise are on, and must match.
OVERRIDES = [
    "data.source=grammar", "data.grammar_size=240", "model.embed_dim=11",
    "model.encoder_hidden_dim=13", "model.decoder_hidden_dim=17", "model.latent_dim=5",
    "model.dropout=0.0", "train.batch_size=9", "train.word_dropout=0.3", "train.log_every=1",
    "train.checkpoint_every=4", "train.seed=3", "train.amp=off",
]


def _train(out: Path, max_steps: int, *extra: str, processes: int = 1, resume: bool = False) -> None:
    args = [str(REPO / "scripts/train.py"), "--no-progress"]
    for item in [*OVERRIDES, *extra, f"train.out_dir={out}", f"train.max_steps={max_steps}"]:
        args += ["--set", item]
    if resume:
        args.append("--resume")
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    f"--nproc_per_node={processes}"]
    else:
        launcher = [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _train_losses(run: Path, key: str = "loss") -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row[key] for row in rows if row["split"] == "train"}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return read_tensor_file(run / "last" / "model.safetensors")


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_and_resume(tmp_path):
    _train(tmp_path / "single", 11)
    # The distributed run stops at step 5 and resumes to 11: resume under DDP is covered too.
    _train(tmp_path / "ddp", 5, processes=2)
    _train(tmp_path / "ddp", 11, processes=2, resume=True)

    single, ddp = _train_losses(tmp_path / "single"), _train_losses(tmp_path / "ddp")
    assert sorted(ddp) == sorted(single) == list(range(1, 12))
    for step in single:
        assert ddp[step] == pytest.approx(single[step], rel=1e-5, abs=1e-5), step
    w_single, w_ddp = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    assert w_single.keys() == w_ddp.keys()
    for name in w_single:
        torch.testing.assert_close(w_ddp[name], w_single[name], rtol=1e-4, atol=1e-5)
    # The run really moved: every weight differs from its initial value (train() seeds torch
    # with train.seed right before building the model).
    checkpoint = load_checkpoint(tmp_path / "single" / "last")
    torch.manual_seed(checkpoint.config.train.seed)
    initial = build_model(checkpoint.config.model, checkpoint.tokenizer.vocab_size,
                          checkpoint.tokenizer.pad_id).state_dict()
    for name, tensor in initial.items():
        assert not torch.allclose(tensor, w_single[name]), name


@pytest.mark.slow
def test_two_gloo_processes_hold_the_kl_set_point_of_one_process(tmp_path):
    # Every rank's controller observes the KL of the global batch: the weights (and so the
    # losses) of one process. Were it a rank's own rows' KL, rank 0 would log other weights.
    kl = ("train.kl.kind=target", "train.kl.target=0.05", "train.kl.ki=0.01")
    _train(tmp_path / "single", 7, *kl)
    _train(tmp_path / "ddp", 7, *kl, processes=2)
    single = _train_losses(tmp_path / "single", "kl_weight")
    ddp = _train_losses(tmp_path / "ddp", "kl_weight")
    assert sorted(ddp) == sorted(single) == list(range(1, 8))
    assert len(set(single.values())) == 7  # the weight moved at every step
    for step in single:
        assert ddp[step] == pytest.approx(single[step], rel=1e-5, abs=1e-7), step
    w_single, w_ddp = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    for name in w_single:
        torch.testing.assert_close(w_ddp[name], w_single[name], rtol=1e-4, atol=1e-5)


def test_rows_split_a_global_batch_without_overlap():
    ranks = [Distributed(rank=r, world_size=3) for r in range(3)]
    rows = [ctx.rows(11, torch.device("cpu")).tolist() for ctx in ranks]
    assert sorted(sum(rows, [])) == list(range(11))
    assert [len(r) for r in rows] == [4, 4, 3]
    single = Distributed()
    assert not single.enabled and single.is_main
    assert single.any(True, torch.device("cpu")) and not single.any(False, torch.device("cpu"))
    assert torch.equal(single.sum(torch.tensor([2.5])), torch.tensor([2.5]))


class FakeProcessGroups:
    """Stands in for torch.distributed: records init and destroy, holds whether a group is up."""

    def __init__(self, initialized: bool = False) -> None:
        self.initialized = initialized
        self.calls: list[str] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init_process_group(self, backend: str) -> None:
        self.calls.append(f"init {backend}")
        self.initialized = True

    def destroy_process_group(self) -> None:
        self.calls.append("destroy")
        self.initialized = False


@pytest.fixture
def torchrun_rank_1(monkeypatch):
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("LOCAL_RANK", "1")):
        monkeypatch.setenv(name, value)


def test_a_process_group_this_process_set_up_is_destroyed_once(monkeypatch, torchrun_rank_1):
    import textvae.core.distributed as distributed

    fake = FakeProcessGroups()
    monkeypatch.setattr(distributed, "dist", fake)
    with distributed.from_environment("cpu") as context:
        assert context.enabled and context.rank == 1 and context.owns_group
        assert fake.calls == ["init gloo"]
    assert fake.calls == ["init gloo", "destroy"]
    context.close()  # a second close does nothing
    distributed.shutdown(context)
    assert fake.calls == ["init gloo", "destroy"]


def test_a_process_group_set_up_by_the_caller_is_left_to_the_caller(monkeypatch, torchrun_rank_1):
    import textvae.core.distributed as distributed

    fake = FakeProcessGroups(initialized=True)
    monkeypatch.setattr(distributed, "dist", fake)
    context = distributed.from_environment("cpu")
    assert context.enabled and not context.owns_group
    context.close()
    assert fake.calls == [] and fake.initialized
    Distributed().close()  # one process: nothing to close


@pytest.mark.parametrize("fails", [False, True])
def test_train_closes_its_distributed_context_however_it_ends(fails, tiny_config, monkeypatch,
                                                               one_thread):
    import textvae.text.training.train as train_module

    closed = []
    monkeypatch.setattr(Distributed, "close", lambda self: closed.append(self))
    if fails:
        def broken(*args, **kwargs):
            raise RuntimeError("no corpus")
        monkeypatch.setattr(train_module, "build_corpus", broken)
    cfg = tiny_config("train.max_steps=1")
    if fails:
        with pytest.raises(RuntimeError, match="no corpus"):
            train_module.train(cfg, progress=False, log=lambda *_: None)
    else:
        assert train_module.train(cfg, progress=False, log=lambda *_: None).step == 1
    assert closed == [Distributed()]


# Only the text VAE's trainer trains data-parallel; every other trainer refuses a torchrun job
# with one line before it touches the run directory (issue 32).
def _labelled_text(out):
    from textvae.text.run.config import load_config
    from textvae.text.training.train_labelled import train_labelled

    return train_labelled, load_config(None, ["labels.factors=[tense]", f"train.out_dir={out}"])


def _image(out, *more):
    from textvae.image.run.config import load_image_config

    return load_image_config(None, [*more, f"train.out_dir={out}"])


def _image_vae(out):
    from textvae.image.training.train import train_image

    return train_image, _image(out)


def _semisup(out):
    from textvae.image.training.semisup_train import train_semisup

    return train_semisup, _image(out, "model.model_type=m2")


def _prior(out):
    from textvae.image.training.prior_train import train_prior

    return train_prior, _image(out, "model.model_type=prior")


@pytest.mark.parametrize("make, name", [
    (_labelled_text, "the labelled text trainer"), (_image_vae, "image training"),
    (_semisup, "semi-supervised image training"), (_prior, "prior training"),
])
def test_trainers_without_data_parallel_refuse_torchrun(make, name, tmp_path, torchrun_rank_1):
    from textvae.core.errors import ConfigError

    trainer, config = make(tmp_path / "run")
    with pytest.raises(ConfigError, match=rf"^{name} .*does not support torchrun \(this is one of "
                                          r"WORLD_SIZE=2 processes\); run it without torchrun"):
        trainer(config, log=lambda _: None)
    assert not (tmp_path / "run").exists()


def test_the_image_command_under_torchrun_says_so_in_one_line(tmp_path, torchrun_rank_1, capsys):
    from textvae.cli import main

    out = tmp_path / "run"
    status = main(["image", "train", "--config", "mnist_vae", "--set", f"train.out_dir={out}"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and not out.exists()
    assert err.startswith("textvae: error: image training trains as one process") and "\n" not in err
