"""Training: one small :class:`Trainer` class and the :func:`train` entry point.

    config -> corpus (tokenizer fit on train) -> model -> Trainer.run() -> run directory

The run directory (``train.out_dir``) holds ``metrics.jsonl``, TensorBoard events when
tensorboard is installed, ``checkpoints/step-N/`` and the ``last`` and ``best`` links
(see :mod:`textvae.checkpoint`).

Determinism and resume: the batch order depends only on (seed, epoch); word dropout and the
reparameterization noise draw from one seeded generator; dropout layers draw from torch's global
generator. A checkpoint stores all three positions, so on CPU a run interrupted and resumed ends
with exactly the weights of an uninterrupted one. Validation draws from its own generator,
seeded afresh each time, so it never moves the training streams.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from tqdm.auto import tqdm

from textvae import __version__, distributed
from textvae.checkpoint import load_checkpoint, point_link, prune_checkpoints, write_checkpoint
from textvae.config import Config, ConfigError
from textvae.data.batching import BucketBatchSampler, collate
from textvae.data.corpus import Corpus, build_corpus
from textvae.data.tokenizers import Tokenizer
from textvae.distributed import Distributed
from textvae.errors import CheckpointError, TextVAEError
from textvae.metrics import active_units, perplexity
from textvae.models.gaussian import kl_standard_normal
from textvae.models.sentence_vae import SentenceVAE, build_model
from textvae.objectives import LossTerms, reconstruction_nll, vae_objective, word_dropout
from textvae.remedies import Remedies

VALIDATION_SEED_OFFSET = 1_000_003
ResultT = TypeVar("ResultT")  # what a trainer's run() returns


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else must be a usable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device is {name!r} but CUDA is not available here; use auto or cpu")
    return device


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of training (evaluation always runs in float32).

    CUDA: ``auto`` is bf16 (fp16 where bf16 is unsupported). CPU: ``auto`` stays float32;
    ``bf16`` runs the matrix multiplies and the recurrent layers in bfloat16 through oneDNN,
    several times faster on CPUs with AMX or AVX512-BF16 units (docs/performance.md has the
    measurements). fp16 is CUDA-only.
    """
    if setting == "off":
        return None
    if device.type == "cuda":
        if setting == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]
    if setting == "fp16":
        raise ConfigError("train.amp=fp16 needs CUDA; on the CPU use bf16 (or off)")
    return torch.bfloat16 if setting == "bf16" else None


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix units (AMX tiles or AVX512-BF16), which make CPU bf16
    training faster than float32; without them oneDNN emulates bf16 and it is slower."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


@torch.no_grad()
def evaluate_elbo(
    model: SentenceVAE,
    ids: list[list[int]],
    tokenizer: Tokenizer,
    *,
    batch_size: int,
    device: torch.device,
    seed: int,
) -> dict[str, float]:
    """The negative ELBO at beta = 1 and its parts over a whole split, one z ~ q(z|x) per
    sentence, plus the ELBO-bound perplexity and active units (CONVENTIONS.md).

    Returns:
        ``neg_elbo``, ``reconstruction``, ``kl`` (nats per sentence), ``ppl_bound``
        (exp(total negative ELBO / target tokens), an upper bound on the PPL; exact for the LM
        baseline), ``active_units``, ``sentences``, ``tokens``.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    lengths = [len(x) + 1 for x in ids]
    # Sorted by length: evaluation order does not matter, and sorted batches carry no padding.
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False)
    total_rec = total_kl = 0.0
    means = []
    for indices in sampler.batches(0):
        batch = collate([ids[i] for i in indices], bos_id=tokenizer.bos_id,
                        eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id).to(device)
        out = model(batch.ids, batch.lengths, generator=generator)  # float32: exact figures
        total_rec += reconstruction_nll(out.logits, out.targets, batch.lengths).sum().item()
        if out.mu is not None:
            total_kl += kl_standard_normal(out.mu.float(), out.logvar.float()).sum().item()
            means.append(out.mu.float().cpu())
    model.train(was_training)
    n, tokens = len(ids), sum(lengths)
    return {
        "neg_elbo": (total_rec + total_kl) / n,
        "reconstruction": total_rec / n,
        "kl": total_kl / n,
        "ppl_bound": perplexity(total_rec + total_kl, tokens),
        "active_units": active_units(torch.cat(means)) if means else 0,
        "sentences": n,
        "tokens": tokens,
    }


@dataclass
class TrainResult:
    """What :func:`train` returns: where the run lives and how it ended."""

    run_dir: Path
    step: int
    epoch: int
    stopped: str
    valid: dict[str, float]
    best_neg_elbo: float
    seconds: float


class _StopSignals:
    """SIGINT/SIGTERM set a flag instead of killing the loop mid-update, so the trainer can
    finish the step, save a checkpoint and exit cleanly. A second Ctrl-C exits at once."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class TrainerBase(Generic[ResultT]):
    """What every training run shares, whatever it trains (sentences here, images in
    :mod:`textvae.image.train`): the optimiser, LR plateau, gradient scaler and seeded generator
    built from ``TrainConfig``; the position counters; their checkpointed state; one optimiser
    step; the non-finite-loss policy; the metrics file; and the epoch/step loop, :meth:`run`.

    Subclasses add their counters to :attr:`counters`, call :meth:`optimizer_step`, and supply
    what the loop does not know through the hooks: :meth:`batches`, :meth:`train_batch`,
    :meth:`train_metrics`, :meth:`progress_postfix`, :meth:`validate`,
    :meth:`_scheduled_validation`, :meth:`_validation_due`, :meth:`selection_score`,
    :meth:`save`, :meth:`start_message` and :meth:`result`.
    """

    counters: tuple[str, ...] = ("step", "epoch", "batch_in_epoch", "bad_epochs",
                                 "skipped_batches", "best_checkpoint_score")
    best_counter: str  # the subclass's counter of the best scheduled validation score

    def __init__(self, config: Any, model: torch.nn.Module, device: torch.device, *,
                 log: Callable[[str], None] = print, writes: bool = True,
                 progress: bool = False) -> None:
        self.config = config
        self.tc = config.train
        self.model = model
        self.device = device
        self.log = log
        self.writes = writes  # False on distributed ranks other than 0
        self.progress = progress  # a tqdm bar over each epoch's batches
        self.run_dir = Path(self.tc.out_dir)
        self.amp_dtype = autocast_dtype(self.tc.amp, device)
        if device.type == "cpu" and self.amp_dtype == torch.bfloat16 and not cpu_has_fast_bf16():
            log("note: train.amp is bf16, but this CPU has no AMX or AVX512-BF16 units, so bf16 "
                "runs slower than float32 here; --set train.amp=off trains faster")
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        params = [p for p in model.parameters() if p.requires_grad]
        if self.tc.optimizer == "adam":
            self.optimizer = _adam(params, self.tc.lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=self.tc.lr, momentum=self.tc.momentum)
        # lr_patience None: an infinite patience never decays, and the scheduler's state keeps the
        # same keys, so checkpoints look alike either way.
        patience = math.inf if self.tc.lr_patience is None else self.tc.lr_patience
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=self.tc.lr_decay, patience=patience,
            min_lr=self.tc.min_lr,
        )
        self.generator = torch.Generator(device=device).manual_seed(self.tc.seed)
        # Counters: the position in training, saved with every checkpoint.
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.bad_epochs = 0  # epochs since validation last improved (early stopping)
        self.skipped_batches = 0  # batches dropped for a non-finite loss (train.nonfinite=skip)
        self.tb = _tensorboard_writer(self.run_dir) if writes else None
        self._improved = False  # whether this step's scheduled validation improved on the best
        # The selection score of the checkpoint `best` points at. Apart from the subclasses' best
        # score, which only scheduled validations move (it drives early stopping), so that the
        # closing validation of a stopped run can pick `best` without changing how a resumed
        # run trains.
        self.best_checkpoint_score = math.inf
        self.run_start = time.monotonic()  # reset by run(); the train rows' clock

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "plateau": self.plateau.state_dict(),
            "scaler": self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "cpu_rng": torch.get_rng_state(),
            **{name: getattr(self, name) for name in self.counters},
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.plateau.load_state_dict(state["plateau"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["cpu_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        # Absent from older checkpoints: skipped_batches (before train.nonfinite) and
        # best_checkpoint_score (before the closing validation could pick `best`, when `best`
        # was the best scheduled validation).
        state = {"skipped_batches": 0, **state}
        state.setdefault("best_checkpoint_score", state[self.best_counter])
        for name in self.counters:
            setattr(self, name, state[name])

    # -- one step ------------------------------------------------------------------------------

    def _any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any process of the job (one process: ``flag``)."""
        return flag

    def skip_nonfinite(self, loss: torch.Tensor) -> bool:
        """Apply ``train.nonfinite`` to a batch's loss: False to go on with the update, True to
        skip the batch (``skip``, counted); with ``stop`` a non-finite loss raises."""
        if not self._any_rank(not bool(torch.isfinite(loss))):
            return False
        if self.tc.nonfinite == "skip":
            # No update from this batch; the batch still counts as consumed, so the data order
            # (and hence resume) is unchanged.
            self.skipped_batches += 1
            return True
        last = self.run_dir / "last"
        kept = (f"the last good checkpoint, {last.resolve().name}, is kept in {self.run_dir}"
                if last.exists() else "no checkpoint had been saved yet")
        raise TextVAEError(
            f"the training loss became {loss.item()} at step {self.step + 1}; stopped "
            f"without saving, and {kept}. Lower train.lr, set train.grad_clip, or set "
            "train.nonfinite=skip to skip such batches."
        )

    def optimizer_step(self, loss: torch.Tensor, before_step: Callable[[], None] | None = None
                       ) -> None:
        """Backward, gradient clipping, ``before_step()`` (e.g. masking gradients), update."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.tc.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
        if before_step is not None:
            before_step()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    # -- records -------------------------------------------------------------------------------

    def _write_metrics(self, row: dict[str, Any]) -> None:
        """Append one row to ``metrics.jsonl`` (and TensorBoard)."""
        if not self.writes:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.tb is not None:
            split = row["split"]
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.tb.add_scalar(f"{split}/{key}", value, row["step"])

    # -- hooks: what the loop asks of each kind of run ------------------------------------------

    def batches(self, epoch: int) -> Sequence[Any]:
        """The epoch's batches, in training order; it must depend only on (seed, epoch), so that
        a run resumed at ``batch_in_epoch`` continues the same order."""
        raise NotImplementedError

    def train_batch(self, batch: Any) -> tuple[LossTerms, int]:
        """One training step on ``batch`` (an item of :meth:`batches`): build the tensors, move
        them to the device, :meth:`train_step`. Returns the step's loss terms and how many units
        (target tokens, images) it trained on, for the throughput in the train rows."""
        raise NotImplementedError

    def train_metrics(self, terms: LossTerms, per_second: float) -> dict[str, Any]:
        """A train row of ``metrics.jsonl`` after its ``split``, ``step`` and ``epoch``: the
        last step's ``terms`` and the run's state; ``per_second``: units trained on per second
        since the last train row."""
        raise NotImplementedError

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        """What the progress bar shows of a train row."""
        return {"loss": f"{row['loss']:.1f}"}

    def validate(self) -> dict[str, float] | None:
        """The validation figures of the model as it stands; None without validation data.
        It must move no training state (its own generator, seeded afresh)."""
        raise NotImplementedError

    def _validation_due(self) -> bool:
        """Whether a scheduled validation follows this step although its epoch goes on (every
        epoch end has one anyway)."""
        return False

    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float] | None:
        """Validate, record and log it, and keep the best score in the counters, judging the
        score with :meth:`_validation_improves`."""
        raise NotImplementedError

    def _validation_improves(self, score: float, best: float, *, end_of_epoch: bool) -> bool:
        """Whether a validation ``score`` (lower is better) improves on ``best``; kept in
        :attr:`_improved` for the loop, which saves such a step as ``best``. At epoch ends it
        also steps the LR plateau and counts :attr:`bad_epochs` for early stopping."""
        improved = score < best
        if end_of_epoch:
            self.plateau.step(score)
            self.bad_epochs = 0 if improved else self.bad_epochs + 1
        self._improved = improved
        return improved

    def selection_score(self, valid: dict[str, float]) -> float | None:
        """The score (lower is better) that picks ``best`` among validations; None when this
        validation may not be ``best``."""
        raise NotImplementedError

    def _new_best(self, valid: dict[str, float] | None) -> bool:
        """Whether a validation at this step beats every checkpoint so far (then it is kept as
        :attr:`best_checkpoint_score`)."""
        score = None if valid is None else self.selection_score(valid)
        if score is None or not score < self.best_checkpoint_score:
            return False
        self.best_checkpoint_score = score
        return True

    def save(self, valid: dict[str, float] | None = None, *, is_best: bool = False) -> Path | None:
        """Write a checkpoint of the model and :meth:`state_dict`, with ``valid`` (the figures
        of a validation at this very step, or None) in its meta; ``is_best`` points ``best`` at
        it."""
        raise NotImplementedError

    def start_message(self) -> str:
        """The line logged as training starts."""
        raise NotImplementedError

    def result(self, stopped: str, valid: dict[str, float], seconds: float) -> ResultT:
        """What :meth:`run` returns: ``stopped`` says why it stopped, ``valid`` holds the last
        validation's figures ({} without validation data)."""
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> ResultT:
        """Train until the epoch budget, ``max_steps``, ``max_minutes``, early stopping or a
        signal; save at every epoch end, every ``checkpoint_every`` steps, every improving
        validation and at the end, which is validated. Returns :meth:`result`."""
        tc = self.tc
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_start = start = time.monotonic()
        stopped = ""
        valid: dict[str, float] | None = None
        valid_step = -1
        self.log(self.start_message())
        window_units, window_start = 0, time.monotonic()
        with _StopSignals() as signals:
            while not stopped:
                if self.epoch >= tc.epochs:
                    stopped = f"finished {tc.epochs} epochs"
                    break
                if tc.max_steps is not None and self.step >= tc.max_steps:
                    # Only on resuming a run that had already reached its budget.
                    stopped = f"reached max_steps={tc.max_steps}"
                    break
                batches = self.batches(self.epoch)
                bar = tqdm(
                    total=len(batches), initial=self.batch_in_epoch, disable=not self.progress,
                    desc=f"epoch {self.epoch + 1}/{tc.epochs}", leave=False, dynamic_ncols=True,
                )
                while self.batch_in_epoch < len(batches):
                    terms, units = self.train_batch(batches[self.batch_in_epoch])
                    self.step += 1
                    self.batch_in_epoch += 1
                    window_units += units
                    bar.update(1)
                    epoch_done = self.batch_in_epoch == len(batches)
                    if self.step % tc.log_every == 0 or epoch_done:
                        elapsed = time.monotonic() - window_start
                        row = {"split": "train", "step": self.step, "epoch": self.epoch,
                               **self.train_metrics(terms, window_units / max(elapsed, 1e-9))}
                        self._write_metrics(row)
                        bar.set_postfix(self.progress_postfix(row))
                        window_units, window_start = 0, time.monotonic()
                    self._improved = False
                    if epoch_done:
                        self.epoch += 1
                        self.batch_in_epoch = 0
                        valid, valid_step = self._scheduled_validation(end_of_epoch=True), self.step
                        if (tc.early_stop_patience is not None
                                and self.bad_epochs >= tc.early_stop_patience):
                            stopped = f"early stopping: no improvement for {self.bad_epochs} epochs"
                    elif self._validation_due():
                        valid = self._scheduled_validation(end_of_epoch=False)
                        valid_step = self.step
                    if tc.max_steps is not None and self.step >= tc.max_steps:
                        stopped = stopped or f"reached max_steps={tc.max_steps}"
                    out_of_time = (tc.max_minutes is not None
                                   and time.monotonic() - start >= 60 * tc.max_minutes)
                    # Ranks must stop at the same step: agree on the two clock/signal events.
                    if self._any_rank(out_of_time or bool(signals.received)):
                        if signals.received:
                            stopped = f"received {signals.received}"
                        else:
                            stopped = stopped or (f"reached max_minutes={tc.max_minutes}"
                                                  if out_of_time else "another rank stopped")
                    # An improving validation between checkpoint steps (train.eval_every) is
                    # saved at once, so `best` is always the best model validated.
                    if (self.step % tc.checkpoint_every == 0 or epoch_done or stopped
                            or self._improved):
                        if stopped and valid_step != self.step:
                            # A closing validation for the summary. It may pick `best` but
                            # moves nothing that training reads (LR plateau, early stopping,
                            # remedies).
                            valid, valid_step = self.validate(), self.step
                            if valid is not None:
                                self._write_metrics({"split": "valid", "step": self.step,
                                                     "epoch": self.epoch, **valid})
                        here = valid if valid_step == self.step else None
                        self.save(here, is_best=self._new_best(here))
                    if stopped or epoch_done:  # a new epoch needs its own batch order
                        break
                bar.close()
            if valid_step != self.step:  # finished all epochs exactly at a saved step
                valid = self.validate()
                self.save(valid, is_best=self._new_best(valid))
        if self.tb is not None:
            self.tb.close()
        return self.result(stopped, valid or {}, time.monotonic() - start)


class Trainer(TrainerBase[TrainResult]):
    """Owns the model, optimiser, schedules and counters of one sentence-model run; the loop
    and what it shares with the image trainer are :class:`TrainerBase`'s.

    Args:
        config: the run config.
        corpus: tokenized train and valid splits.
        model: the model, already on ``device``.
        device: where to train.
        progress: show a tqdm progress bar.
        log: where one-line messages go.
        dist: this process's place in a distributed job (:mod:`textvae.distributed`); the
            default is a single process.
    """

    def __init__(
        self,
        config: Config,
        corpus: Corpus,
        model: SentenceVAE,
        device: torch.device,
        *,
        progress: bool = True,
        log: Callable[[str], None] = print,
        dist: Distributed | None = None,
    ) -> None:
        self.dist = dist or Distributed()
        super().__init__(config, model, device, log=log if self.dist.is_main else _silent,
                         writes=self.dist.is_main, progress=progress and self.dist.is_main)
        self.corpus = corpus
        self.tokenizer = corpus.tokenizer
        # Forward passes go through the DDP wrapper (it all-reduces gradients in backward);
        # state dicts and generation use the plain module.
        self.forward_model: torch.nn.Module = model
        if self.dist.enabled:
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        if self.tc.compile:  # after the DDP wrap, as torch's DDP + compile notes advise
            self.forward_model = torch.compile(self.forward_model, dynamic=True)
        train_lengths = [len(x) + 1 for x in corpus.ids["train"]]
        self.sampler = BucketBatchSampler(
            train_lengths, self.tc.batch_size, seed=self.tc.seed, bucketed=self.tc.bucketed,
            min_batch=min(self.dist.world_size, self.tc.batch_size),
        )
        self.best_neg_elbo = math.inf
        self.remedies = Remedies(self)  # collapse remedies and warning (textvae/remedies.py)

    best_counter = "best_neg_elbo"
    counters = (*TrainerBase.counters, best_counter)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "remedies": self.remedies.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.remedies.load_state_dict(state.get("remedies", {}))

    def _any_rank(self, flag: bool) -> bool:
        # Ranks agree, so that no rank waits in a gradient all-reduce the others skipped.
        return self.dist.any(flag, self.device)

    def save(self, valid: dict[str, float] | None = None, *, is_best: bool = False) -> Path | None:
        """Write a checkpoint (rank 0 only; other ranks return None)."""
        if not self.dist.is_main:
            return None
        meta = {
            "textvae_version": __version__,
            "model_type": self.config.model.model_type,
            "vocab_size": self.tokenizer.vocab_size,
            "step": self.step,
            "epoch": self.epoch,
            "valid": valid,
        }
        path = write_checkpoint(
            self.run_dir,
            config=self.config,
            tokenizer=self.tokenizer,
            model_state=self.model.state_dict(),
            trainer_state=self.state_dict(),
            meta=meta,
        )
        if is_best:
            point_link(self.run_dir, "best", path)
        prune_checkpoints(self.run_dir)
        return path

    # -- one step ------------------------------------------------------------------------------

    def batches(self, epoch: int) -> list[list[int]]:
        """The epoch's batches of training-sentence indices (:class:`BucketBatchSampler`)."""
        return self.sampler.batches(epoch)

    def train_batch(self, batch: list[int]) -> tuple[LossTerms, int]:
        """Collate the sentences ``batch`` indexes, move them to the device and train on them.
        Returns the loss terms and the batch's target tokens (EOS included)."""
        padded = collate(
            [self.corpus.ids["train"][i] for i in batch], bos_id=self.tokenizer.bos_id,
            eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id,
        )
        if self.device.type == "cuda":  # page-locked memory: asynchronous copies
            padded = padded.pin_memory()
        padded = padded.to(self.device, non_blocking=True)
        terms = self.train_step(padded.ids, padded.lengths)
        return terms, int(padded.lengths.sum())

    def train_step(self, ids: torch.Tensor, lengths: torch.Tensor) -> LossTerms:
        """One optimiser step on a batch. ids: (B, T + 1); lengths: (B,).

        In a distributed job every rank passes the whole global batch: the noise is drawn for
        all B rows, then each rank trains on its own rows (see :mod:`textvae.distributed`), and
        the returned terms are global-batch averages.
        """
        self.remedies.on_step_start(self.step)
        self.model.train()
        decoder_inputs = word_dropout(
            ids[:, :-1], lengths, self.tc.word_dropout, unk_id=self.tokenizer.unk_id,
            generator=self.generator,
        )  # (B, T)
        eps = None
        if self.model.is_vae:  # drawn here, after word dropout, in the generator's usual order
            eps = torch.randn(len(lengths), self.model.latent_dim, generator=self.generator,
                              device=ids.device)  # (B, Z)
        global_rows = len(lengths)
        if self.dist.enabled:
            rows = self.dist.rows(global_rows, ids.device)  # (b,)
            lengths = lengths[rows]
            width = int(lengths.max())  # this rank's longest row: no extra padding
            ids, decoder_inputs = ids[rows, : width + 1], decoder_inputs[rows, :width]
            eps = None if eps is None else eps[rows]
        with _autocast(self.device, self.amp_dtype):
            out = self.forward_model(ids, lengths, decoder_inputs=decoder_inputs, eps=eps)
        rec = reconstruction_nll(out.logits, out.targets, lengths)  # (b,)
        kl_dim = None if out.mu is None else kl_standard_normal(out.mu.float(), out.logvar.float())
        terms = vae_objective(
            rec, kl_dim, kl_weight=self.remedies.kl_weight(self.step),
            free_bits=self.remedies.free_bits(), free_bits_mode=self.tc.free_bits_mode,
        )
        if self.skip_nonfinite(terms.loss):
            return terms
        loss = terms.loss
        if self.dist.enabled:
            # DDP averages gradients over ranks; weighting each rank's mean by its share of the
            # rows makes that average the gradient of the global-batch mean.
            share = len(lengths) * self.dist.world_size / global_rows
            loss = loss * share
            terms = _global_terms(terms, len(lengths) / global_rows, self.dist)
        self.optimizer_step(loss, before_step=self.remedies.mask_gradients)
        return terms

    def validate(self) -> dict[str, float]:
        return evaluate_elbo(
            self.model, self.corpus.ids["valid"], self.tokenizer,
            batch_size=max(self.tc.batch_size, 64), device=self.device,
            seed=self.tc.seed + VALIDATION_SEED_OFFSET,
        )

    # -- the loop's hooks ----------------------------------------------------------------------

    def start_message(self) -> str:
        return (
            f"training {self.config.model.model_type} on {self.device} "
            f"({sum(p.numel() for p in self.model.parameters()):,} parameters) -> {self.run_dir}"
        )

    def train_metrics(self, terms: LossTerms, per_second: float) -> dict[str, Any]:
        return {
            "loss": terms.loss.item(), "neg_elbo": terms.neg_elbo.item(),
            "reconstruction": terms.reconstruction.item(), "kl": terms.kl.item(),
            "kl_weight": terms.kl_weight, "lr": self.optimizer.param_groups[0]["lr"],
            "tokens_per_s": per_second, "skipped_batches": self.skipped_batches,
        }

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        return {"loss": f"{row['loss']:.1f}", "kl": f"{row['kl']:.2f}",
                "klw": f"{row['kl_weight']:.2f}", "tok_s": f"{row['tokens_per_s']:.0f}"}

    def _validation_due(self) -> bool:
        return self.tc.eval_every is not None and self.step % self.tc.eval_every == 0

    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float]:
        """Validate; keep ``best``; at epoch ends also drive the LR plateau and early stopping."""
        valid = self.validate()
        self.remedies.on_validation(valid)
        self._write_metrics({"split": "valid", "step": self.step, "epoch": self.epoch, **valid})
        # While pretraining as an autoencoder the -ELBO says nothing about the final model: it
        # neither picks `best` nor drives the LR plateau and early stopping.
        score = self.selection_score(valid)
        improved = score is not None and self._validation_improves(
            score, self.best_neg_elbo, end_of_epoch=end_of_epoch
        )
        if improved:
            self.best_neg_elbo = score
        self.log(
            f"step {self.step} valid: -ELBO {valid['neg_elbo']:.2f} = rec {valid['reconstruction']:.2f}"
            f" + KL {valid['kl']:.2f} nats/sentence, PPL<= {valid['ppl_bound']:.2f}, "
            f"active units {valid['active_units']}" + ("  (best)" if improved else "")
        )
        return valid

    def selection_score(self, valid: dict[str, float]) -> float | None:
        # While pretraining as an autoencoder the -ELBO says nothing about the final model.
        return None if self.remedies.pretraining else valid["neg_elbo"]

    def result(self, stopped: str, valid: dict[str, float], seconds: float) -> TrainResult:
        return TrainResult(self.run_dir, self.step, self.epoch, stopped, valid,
                           self.best_neg_elbo, seconds)


def _adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch has it for the device (CPU since torch 2.4):
    one pass over each parameter instead of a dozen, a third of the step time of the default
    implementation on the PTB model's 6.2M parameters."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # older torch, or a device without the fused kernel
        return torch.optim.Adam(params, lr=lr)


def _silent(message: str) -> None:
    """The log of ranks other than 0."""


def _global_terms(terms: LossTerms, share: float, dist: Distributed) -> LossTerms:
    """Average a rank's loss terms over the global batch (each weighted by its row share)."""
    local = torch.stack([terms.loss, terms.neg_elbo, terms.reconstruction, terms.kl]).detach()
    loss, neg_elbo, rec, kl = dist.sum(local.float() * share)
    return LossTerms(loss, neg_elbo, rec, kl, terms.kl_weight)


def _tensorboard_writer(run_dir: Path):
    """A SummaryWriter when tensorboard is installed (``pip install textvae[tensorboard]``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def open_run(config: Any, *, resume: bool, kind: str) -> tuple[Any, Any]:
    """The run-directory rules every trainer shares (``kind``: ``text`` or ``image``).

    Resuming needs ``out_dir/last`` of the same kind and takes the saved config, except for the
    budget (``train.epochs``, ``max_steps``, ``max_minutes``) and ``train.device``; a fresh run
    refuses a directory that already holds one, and starts ``metrics.jsonl`` anew (a run killed
    before its first checkpoint may have left rows).

    Returns:
        ``(config, checkpoint)``: the config to train with, and the checkpoint to resume from
        (None for a fresh run).
    """
    run_dir = Path(config.train.out_dir)
    if not resume:
        if (run_dir / "last").exists():
            raise TextVAEError(
                f"{run_dir} already holds a run; pass --resume to continue it, or choose another "
                "train.out_dir (e.g. --set train.out_dir=runs/new)"
            )
        _truncate_metrics(run_dir / "metrics.jsonl", 0)
        return config, None
    if not (run_dir / "last").exists():
        raise TextVAEError(f"cannot resume: {run_dir / 'last'} does not exist (train without --resume)")
    checkpoint = load_checkpoint(run_dir / "last", with_trainer=True)
    found = checkpoint.meta.get("kind", "text")
    if found != kind:
        command = "textvae train" if found == "text" else "textvae image train"
        article = "an" if found == "image" else "a"
        raise TextVAEError(
            f"{checkpoint.path} is {article} {found} checkpoint; resume it with `{command} --resume`"
        )
    budget = {k: getattr(config.train, k) for k in ("epochs", "max_steps", "max_minutes", "device")}
    return replace(checkpoint.config, train=replace(checkpoint.config.train, **budget)), checkpoint


def train(
    config: Config,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train a model from a config, or resume the run in ``config.train.out_dir``.

    On resume the run's saved config is used, except for the budget (``train.epochs``,
    ``max_steps``, ``max_minutes``) and ``train.device``, which come from ``config``; the
    tokenizer, weights, optimiser, schedules, RNG states and data position come from
    ``out_dir/last``.
    """
    config, checkpoint = open_run(config, resume=resume, kind="text")
    run_dir = Path(config.train.out_dir)
    device = resolve_device(config.train.device)
    dist = distributed.from_environment(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if not dist.is_main:
        log, progress = _silent, False
    dist.barrier()  # every rank has checked the run directory before rank 0 writes to it
    torch.manual_seed(config.train.seed)
    corpus = build_corpus(
        config.data, tokenizer=checkpoint.tokenizer if checkpoint else None,
        splits=("train", "valid"), log=log,
    )
    model = build_model(config.model, corpus.tokenizer.vocab_size, corpus.tokenizer.pad_id)
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint.model_state)
        except RuntimeError as err:
            raise CheckpointError(
                f"{checkpoint.path}: the weights do not match the model its config describes "
                f"({str(err).splitlines()[0][:200]})"
            ) from None
    model.to(device)
    trainer = Trainer(config, corpus, model, device, progress=progress, log=log, dist=dist)
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint.trainer_state)
        _truncate_metrics(run_dir / "metrics.jsonl", trainer.step)
        log(f"resumed from {checkpoint.path} at step {trainer.step} (epoch {trainer.epoch + 1})")
    result = trainer.run()
    log(summary(result))
    return result


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric rows logged after ``step`` (work that the resumed run will redo)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if _row_step(line) <= step]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(line + "\n" for line in rows))
    os.replace(tmp, path)  # a kill here leaves the old file or the new one, never half of one


def _row_step(line: str) -> float:
    """A metrics row's step; a row cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def summary(result: TrainResult) -> str:
    """A short human summary of a finished run."""
    v = result.valid
    lines = [
        f"done: {result.stopped} after {result.step} steps ({result.seconds / 60:.1f} min).",
    ]
    if v:
        lines.append(
            f"validation: -ELBO {v['neg_elbo']:.2f} nats/sentence (reconstruction "
            f"{v['reconstruction']:.2f} + KL {v['kl']:.2f}), PPL <= {v['ppl_bound']:.2f}, "
            f"active units {v['active_units']}"
        )
    lines.append(f"checkpoint: {result.run_dir / 'last'}  (best by validation -ELBO: {result.run_dir / 'best'})")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `textvae train` or scripts/train.py")
