import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny import BF16_RNNS

from textvae.cli import main
from textvae.core.device import autocast_dtype, resolve_device
from textvae.core.errors import TextVAEError
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.checkpoint import load_checkpoint
from textvae.text.training.train import train

REPO = Path(__file__).resolve().parents[3]


def _quiet(_msg):
    pass


def _weights(run_dir):
    return load_checkpoint(Path(run_dir) / "last").model_state


def _loop_only(*args, **kwargs):
    """A trainer of the shared loop alone: its state, counters and rules (LR plateau, resume),
    with hooks that are never called; ``best_x`` is its best counter."""
    from textvae.core.training.loop import TrainerBase

    class LoopOnly(TrainerBase):
        best_counter = "best_x"
        counters = (*TrainerBase.counters, "best_x")
        best_x = math.inf

        def batches(self, epoch): raise AssertionError("not called")
        def train_batch(self, batch): raise AssertionError("not called")
        def train_metrics(self, terms, per_second): raise AssertionError("not called")
        def validate(self): raise AssertionError("not called")
        def _scheduled_validation(self, *, end_of_epoch): raise AssertionError("not called")
        def selection_score(self, valid): raise AssertionError("not called")
        def save(self, valid=None, *, is_best=False): raise AssertionError("not called")
        def start_message(self): raise AssertionError("not called")
        def result(self, stopped, valid, seconds): raise AssertionError("not called")

    return LoopOnly(*args, **kwargs)


def test_training_writes_metrics_and_checkpoints(tiny_config):
    cfg = tiny_config("train.max_steps=9", "train.checkpoint_every=4")
    result = train(cfg, progress=False, log=_quiet)
    run = Path(cfg.train.out_dir)
    assert result.step == 9 and result.stopped == "reached max_steps=9"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train_rows] == [4, 8]
    for key in ("loss", "neg_elbo", "reconstruction", "kl", "kl_weight", "tokens_per_s"):
        assert key in train_rows[0]
    # The true ELBO is logged apart from the annealed loss.
    assert train_rows[0]["neg_elbo"] == pytest.approx(train_rows[0]["reconstruction"] + train_rows[0]["kl"], rel=1e-5)
    assert rows[-1]["split"] == "valid" and rows[-1]["step"] == 9
    assert os.readlink(run / "last").endswith("step-00000009")
    # Only checkpoints that a link points at survive.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000009"]


@pytest.mark.parametrize("max_steps", [8, 11])
def test_best_is_the_best_validation_including_the_closing_one(tiny_config, max_steps):
    # Validations every 3 steps, checkpoints only every 1,000: each improving validation must
    # still leave a checkpoint behind, or `best` would be missing or stale. The run ends with a
    # closing validation (step 8 or 11), which is `best` when it beats the scheduled ones.
    cfg = tiny_config(f"train.max_steps={max_steps}", "train.eval_every=3",
                      "train.checkpoint_every=1000", "train.lr=0.01")
    train(cfg, progress=False, log=_quiet)
    run = Path(cfg.train.out_dir)
    valid = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in valid if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [*range(3, max_steps, 3), max_steps]
    best = min(valid, key=lambda r: r["neg_elbo"])
    assert best["step"] == max_steps  # with these seeds the closing validation is the best
    assert os.readlink(run / "best").endswith(f"step-{best['step']:08d}")
    assert load_checkpoint(run / "best").meta["valid"]["neg_elbo"] == best["neg_elbo"]


def test_under_a_kl_set_point_best_is_the_lowest_validation_reconstruction(tiny_config):
    # The controller drives the rate towards 6 nats, so the -ELBO and the reconstruction
    # disagree on which validation is best (steps 40 and 26 with these seeds); `best` must
    # follow the reconstruction.
    cfg = tiny_config("train.max_steps=40", "train.eval_every=4", "train.checkpoint_every=1000",
                      "train.kl.kind=target", "train.kl.target=6", "train.kl.kp=0.2",
                      "train.kl.ki=0.01", "train.lr=0.01")
    result = train(cfg, progress=False, log=_quiet)
    run = Path(cfg.train.out_dir)
    valid = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in valid if r["split"] == "valid"]
    by_rec = min(valid, key=lambda r: r["reconstruction"])
    assert by_rec["step"] != min(valid, key=lambda r: r["neg_elbo"])["step"]
    assert os.readlink(run / "best").endswith(f"step-{by_rec['step']:08d}")
    assert result.by_reconstruction


@pytest.mark.parametrize("patience, expected_lrs", [(1, [0.01, 0.01, 0.005, 0.005, 0.0025]),
                                                    ("null", [0.01] * 5)])
def test_the_lr_decays_on_a_plateau_unless_patience_is_null(tiny_config, patience, expected_lrs):
    cfg = tiny_config("train.lr=0.01", "train.lr_decay=0.5", f"train.lr_patience={patience}")
    model = build_model(cfg.model, vocab_size=19, pad_id=0)
    trainer = _loop_only(cfg, model, torch.device("cpu"), log=_quiet, writes=False)
    lrs = []
    # A validation score that never improves after the first: with patience 1 the LR halves
    # after every second bad epoch; with null it never moves.
    for score in (5.0, 6.0, 6.0, 6.0, 6.0):
        trainer._validation_improves(score, 5.0 if lrs else float("inf"), end_of_epoch=True)
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx(expected_lrs)


def test_checkpoints_from_before_best_checkpoint_score_resume_with_the_best_so_far(tiny_config):
    cfg = tiny_config()
    model = build_model(cfg.model, vocab_size=19, pad_id=0)
    trainer = _loop_only(cfg, model, torch.device("cpu"), log=_quiet, writes=False)
    trainer.best_x = 41.5
    state = trainer.state_dict()
    del state["best_checkpoint_score"], state["skipped_batches"]  # as written by older versions
    trainer.best_x = math.inf
    trainer.load_state_dict(state)
    assert (trainer.best_x, trainer.best_checkpoint_score, trainer.skipped_batches) == (41.5, 41.5, 0)


def test_checkpoint_rebuilds_the_model_exactly(tiny_config):
    cfg = tiny_config("train.max_steps=3")
    train(cfg, progress=False, log=_quiet)
    ckpt = load_checkpoint(cfg.train.out_dir)  # a run directory reads its `last`
    assert ckpt.config == cfg
    assert ckpt.meta["step"] == 3 and ckpt.meta["model_type"] == "vae"
    model = build_model(ckpt.config.model, ckpt.tokenizer.vocab_size, ckpt.tokenizer.pad_id)
    model.load_state_dict(ckpt.model_state)
    again = load_checkpoint(ckpt.path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.model_state[name]), name


SET_POINT = ("train.kl.kind=target", "train.kl.target=0.2", "train.kl.kp=0.05", "train.kl.ki=0.003")


# Mid-epoch, and exactly at an epoch end (26 batches); the KL set point's controller state too.
@pytest.mark.parametrize("stop_at, kl", [(5, ()), (26, ()), (17, SET_POINT),
                                         (11, ("train.word_deletion=0.3",))],
                         ids=["mid-epoch", "epoch-end", "kl-set-point", "word-deletion"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_config, stop_at, kl):
    common = ("train.checkpoint_every=3", "train.epochs=3", "train.eval_every=10", *kl)
    full = tiny_config(*common, "train.max_steps=40", out="full")
    train(full, progress=False, log=_quiet)
    part = tiny_config(*common, f"train.max_steps={stop_at}", out="part")
    train(part, progress=False, log=_quiet)
    resumed = tiny_config(*common, "train.max_steps=40", out="part")
    result = train(resumed, resume=True, progress=False, log=_quiet)
    assert result.step == 40
    a, b = _weights(full.train.out_dir), _weights(part.train.out_dir)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The metrics log of the resumed run matches the uninterrupted one, row for row.
    rows = lambda cfg: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if k != "tokens_per_s"}
        for line in (Path(cfg.train.out_dir) / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["step"] != stop_at  # the interrupted run's closing validation
    ]
    assert [r for r in rows(full) if r["split"] == "train"] == [r for r in rows(part) if r["split"] == "train"]
    if kl:  # the controller moved the weight, and the resumed run's weights moved with it
        weights = {r["kl_weight"] for r in rows(part) if r["split"] == "train" and r["step"] > stop_at}
        assert len(weights) > 3 and 0 < min(weights)


def test_a_training_step_changes_weights_and_validation_does_not(tiny_config):
    from textvae.text.run.corpus import build_corpus
    from textvae.text.training.train import Trainer

    cfg = tiny_config()
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=_quiet)
    model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    trainer = Trainer(cfg, corpus, model, torch.device("cpu"), progress=False, log=_quiet)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.validate()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    from textvae.text.data.batching import collate

    batch = collate(corpus.ids["train"][:7], bos_id=2, eos_id=3, pad_id=0)
    trainer.train_step(batch.ids, batch.lengths)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
    assert "encoder_rnn.weight_ih_l0" in changed or any("encoder" in k for k in changed)
    assert any("decoder" in k for k in changed)


def test_word_deletion_shortens_what_the_encoder_reads_not_what_the_decoder_predicts(
        tiny_config, monkeypatch):
    from textvae.text.data.batching import collate
    from textvae.text.run.corpus import build_corpus
    from textvae.text.training.train import Trainer

    cfg = tiny_config("train.word_deletion=0.45")
    corpus = build_corpus(cfg.data, splits=("train", "valid"), log=_quiet)
    model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    trainer = Trainer(cfg, corpus, model, torch.device("cpu"), progress=False, log=_quiet)
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda *a, **k: seen.append(a) or encode(*a, **k))
    batch = collate(corpus.ids["train"][:9], bos_id=2, eos_id=3, pad_id=0)
    out = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: out.append(forward(*a, **k)) or out[-1])
    trainer.forward_model = model
    trainer.train_step(batch.ids, batch.lengths)
    tokens, lengths, host_lengths = seen[0][:3]
    full = batch.lengths.tolist()
    assert host_lengths == lengths.tolist() and len(host_lengths) == 9
    assert all(1 <= m <= n for m, n in zip(host_lengths, full, strict=True)) and sum(host_lengths) < sum(full)
    assert int(out[0].lengths.sum()) == sum(full)  # every target still predicted
    assert tokens.shape == (9, max(host_lengths))


def test_valid_sentences_validates_on_a_fixed_seeded_subset(tiny_config):
    from textvae.text.run.corpus import build_corpus
    from textvae.text.training.train import Trainer

    def trainer(*overrides):
        cfg = tiny_config(*overrides)
        corpus = build_corpus(cfg.data, splits=("train", "valid"), log=_quiet)
        model = build_model(cfg.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
        return Trainer(cfg, corpus, model, torch.device("cpu"), progress=False, log=_quiet)

    whole = trainer("data.grammar_size=400")  # 20 validation sentences
    every = whole.corpus.ids["valid"]
    assert whole.valid_ids == every
    part = trainer("data.grammar_size=400", "train.valid_sentences=7")
    assert len(part.valid_ids) == 7 and all(x in every for x in part.valid_ids)
    assert part.valid_ids == trainer("data.grammar_size=400", "train.valid_sentences=7").valid_ids
    other_seed = trainer("data.grammar_size=400", "train.valid_sentences=7", "train.seed=3")
    assert other_seed.valid_ids != part.valid_ids
    assert part.validate()["neg_elbo"] != whole.validate()["neg_elbo"]


def test_word_deletion_needs_an_encoder(tiny_config):
    with pytest.raises(TextVAEError, match="word_deletion"):
        train(tiny_config("model.model_type=lm", "train.word_deletion=0.2", "train.max_steps=2"),
              progress=False, log=_quiet)


def test_lm_baseline_trains(tiny_config):
    result = train(tiny_config("model.model_type=lm", "train.max_steps=4"), progress=False, log=_quiet)
    assert result.valid["kl"] == 0.0 and result.valid["active_units"] == 0
    assert result.valid["ppl_bound"] > 1.0


def test_refuses_to_overwrite_a_run_and_resume_needs_one(tiny_config):
    cfg = tiny_config("train.max_steps=2")
    with pytest.raises(TextVAEError, match="cannot resume"):
        train(cfg, resume=True, progress=False, log=_quiet)
    train(cfg, progress=False, log=_quiet)
    with pytest.raises(TextVAEError, match="already holds a run; pass --resume"):
        train(cfg, progress=False, log=_quiet)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(TextVAEError, match="CUDA is not available"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "older-checkpoint"])
def test_a_cuda_run_resumes_on_the_cpu_with_a_note(tiny_config, tagged):
    """A checkpoint written on CUDA holds a CUDA generator state (16 bytes: Philox seed and
    offset), which a CPU generator cannot take. Resuming on the CPU must go on, with a fresh
    stream and one line saying so, not end in a raw RuntimeError."""
    cfg = tiny_config()
    model = build_model(cfg.model, vocab_size=19, pad_id=0)
    logs = []
    trainer = _loop_only(cfg, model, torch.device("cpu"), log=logs.append, writes=False)
    trainer.best_x = 3.5
    state = trainer.state_dict()
    state.update(generator=torch.zeros(16, dtype=torch.uint8), step=23,
                 cuda_rng=torch.zeros(16, dtype=torch.uint8))
    if tagged:
        state["generator_device"] = "cuda"
    else:  # written before checkpoints named the generator's device: told by the state's size
        del state["generator_device"]
    trainer.load_state_dict(state)
    assert trainer.step == 23 and trainer.best_x == 3.5
    assert sum("resumes on cpu" in m for m in logs) == 1
    draw = torch.randn(5, generator=trainer.generator)
    trainer.load_state_dict(state)  # the fresh stream is a function of (seed, step)
    assert torch.equal(torch.randn(5, generator=trainer.generator), draw)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_a_cpu_run_resumes_on_cuda_and_back(tiny_config):
    cfg = tiny_config("train.max_steps=3", "train.device=cpu")
    train(cfg, progress=False, log=_quiet)
    logs = []
    on_cuda = tiny_config("train.max_steps=5", "train.device=cuda")
    assert train(on_cuda, resume=True, progress=False, log=logs.append).step == 5
    assert any("resumes on cuda" in m for m in logs)
    back = tiny_config("train.max_steps=7", "train.device=cpu")
    assert train(back, resume=True, progress=False, log=logs.append).step == 7
    assert any("resumes on cpu" in m for m in logs)

@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_training_on_cuda_with_mixed_precision(tiny_config):
    cfg = tiny_config("train.max_steps=6", "train.device=cuda", "train.amp=auto")
    result = train(cfg, progress=False, log=_quiet)
    assert result.step == 6 and torch.isfinite(torch.tensor(result.valid["neg_elbo"]))
    assert autocast_dtype("auto", torch.device("cuda")) in (torch.bfloat16, torch.float16)
    cfg16 = tiny_config("train.max_steps=3", "train.device=cuda", "train.amp=fp16", out="fp16")
    assert train(cfg16, progress=False, log=_quiet).step == 3


def test_cli_and_script_train(tmp_path, capsys):
    args = ["--config", str(REPO / "configs/quickstart.yaml"), "--set", "data.grammar_size=300",
            "--set", "model.encoder_hidden_dim=15", "--set", "model.decoder_hidden_dim=15",
            "--set", "train.max_steps=2", "--set", f"train.out_dir={tmp_path / 'cli'}", "--no-progress"]
    assert main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "done: reached max_steps=2" in out
    assert "samples from N(0, I):" in out and "interpolation from '" in out
    script = subprocess.run(
        [sys.executable, str(REPO / "scripts/train.py"), *args[:-3], "--set",
         f"train.out_dir={tmp_path / 'script'}", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert script.returncode == 0, script.stderr
    assert (tmp_path / "script" / "last" / "model.safetensors").is_file()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run = tmp_path / "sigint"
    proc = subprocess.Popen(
        [sys.executable, "-m", "textvae", "train", "--config", "quickstart", "--set", "data.grammar_size=2000",
         "--set", "train.amp=off", "--set", "train.max_steps=null", "--set", "train.max_minutes=null",
         "--set", "model.embed_dim=11", "--set", "model.encoder_hidden_dim=13",
         "--set", "model.decoder_hidden_dim=13", "--set", "train.epochs=1000",
         "--set", "train.log_every=1", "--set", f"train.out_dir={run}", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "received SIGINT" in out
    assert "Traceback" not in err
    assert load_checkpoint(run).meta["step"] >= 1


@pytest.mark.skipif(tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 4),
                    reason="torch < 2.4 has no fused Adam on the CPU")
def test_adam_uses_the_fused_kernel_on_the_cpu():
    from textvae.core.training.optim import adam_optimizer as _adam

    weight = torch.nn.Parameter(torch.ones(3, 5))
    optimizer = _adam([weight], 0.1)
    assert optimizer.defaults["fused"] is True
    weight.grad = torch.ones(3, 5)
    optimizer.step()
    torch.testing.assert_close(weight.detach(), torch.full((3, 5), 0.9))  # Adam's first step: -lr


@BF16_RNNS
@pytest.mark.parametrize("fast", [True, False])
def test_cpu_bf16_notes_when_the_cpu_lacks_bf16_units(tiny_config, monkeypatch, fast):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: fast, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    messages = []
    cfg = tiny_config("train.max_steps=2", "train.device=cpu", "train.amp=bf16")
    train(cfg, progress=False, log=messages.append)
    noted = [m for m in messages if "no AMX or AVX512-BF16" in m]
    assert len(noted) == (0 if fast else 1)


@pytest.mark.slow
def test_compiled_training_matches_eager(tiny_config, one_thread, monkeypatch):
    compiled_modules = []
    real_compile = torch.compile

    def recording_compile(module, **options):
        compiled_modules.append(module)
        return real_compile(module, **options)

    monkeypatch.setattr(torch, "compile", recording_compile)
    # model.dropout=0: torch.compile draws dropout masks from its own RNG stream.
    eager = tiny_config("train.max_steps=3", "model.dropout=0", "train.device=cpu", out="eager")
    compiled = tiny_config("train.max_steps=3", "model.dropout=0", "train.device=cpu",
                           "train.compile=true", out="compiled")
    train(eager, progress=False, log=_quiet)
    train(compiled, progress=False, log=_quiet)
    want, got = _weights(eager.train.out_dir), _weights(compiled.train.out_dir)
    assert want.keys() == got.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4, msg=name)
    assert len(compiled_modules) == 1  # the compiled run compiled its forward pass, once


def test_train_takes_sentences_directly_and_fits_the_annealing_into_the_run(tiny_config):
    sentences = [f"the {w} number {i} ran ." for i in range(61) for w in ("dog", "cat")]
    messages = []
    cfg = tiny_config("train.epochs=2", "train.kl.kind=linear", "train.kl.anneal_fraction=0.5")
    result = train(cfg, train_sentences=sentences, progress=False, log=messages.append)
    saved = load_checkpoint(result.run_dir / "last").config
    planned = result.step  # two epochs, every planned step run
    assert saved.data.source == "text" and Path(saved.data.train_path).is_absolute()
    assert saved.train.kl.anneal_fraction is None
    assert saved.train.kl.warmup_steps == round(0.5 * planned)
    assert any(f"KL annealing over 0.5 of {planned} planned steps" in m for m in messages)
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kl_weight"] for r in rows if r["split"] == "train"][-1] == 1.0
    assert not any("annealing had not finished" in m for m in messages)


def test_a_run_that_ends_before_its_annealing_says_so(tiny_config):
    messages = []
    train(tiny_config("train.max_steps=5", "train.kl.x0=2500"), progress=False, log=messages.append)
    warned = [m for m in messages if "annealing had not finished" in m]
    assert len(warned) == 1 and "step 5 with the KL weight at 0.00" in warned[0]


def test_a_time_budget_far_short_of_the_plan_says_the_model_is_undertrained(tiny_config):
    messages = []
    threads = torch.get_num_threads()
    result = train(tiny_config("train.max_minutes=0.0001", "train.threads=2"), progress=False,
                   log=messages.append)
    assert torch.get_num_threads() == threads  # the run's choice is undone afterwards
    assert "threads: 2 (train.threads)" in messages
    assert result.stopped == "reached max_minutes=0.0001" and result.step == 1
    warning = [n for n in result.notes if n.startswith("warning: train.max_minutes ended the run")]
    assert len(warning) == 1 and "after 1 of " in warning[0] and "far from trained" in warning[0]
    assert warning[0] in messages[-1]  # the summary ends with it


def test_a_run_that_reaches_most_of_its_plan_only_notes_the_time_budget(tiny_config):
    from textvae.text.training.train import Trainer

    trainer = Trainer.__new__(Trainer)  # only the budget arithmetic is exercised
    trainer.tc = tiny_config("train.epochs=3", "train.max_steps=101").train
    trainer.batches = lambda epoch: [[0]] * 41  # 3 epochs of 41 batches, capped at 101 steps
    trainer.step = 77
    assert trainer.planned_steps() == 101
    assert trainer.budget_notes("reached max_minutes=2") == [
        "note: train.max_minutes ended the run after 77 of 101 planned steps (76%)"]
    assert trainer.budget_notes("finished 3 epochs") == []
    trainer.step = 101
    assert trainer.budget_notes("reached max_minutes=2") == []
