"""The training loop every run shares, whatever it trains (sentences in :mod:`textvae.text.training.train`,
images in :mod:`textvae.image.training.train`): :class:`TrainerBase`.

It builds the optimiser, LR plateau, gradient scaler and seeded generator from ``TrainConfig``;
keeps the position counters and their checkpointed state; takes one optimiser step; applies the
non-finite-loss policy; writes ``metrics.jsonl``; and runs the epoch/step loop (:meth:`run`) with
its budget, validation schedule (epoch ends and every ``train.eval_every`` steps), ``best``
selection and signal handling. Subclasses supply what the loop does not know through its hooks:
the abstract methods, without which a trainer cannot be built, and a few with defaults.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import torch

from textvae.core.device import autocast_dtype, choose_threads, cpu_has_fast_bf16, precision_note
from textvae.core.objectives import LossTerms
from textvae.core.training.budget import anneal_in_run_steps, budget_notes, planned_steps
from textvae.core.training.display import TrainingProgress
from textvae.core.training.optim import (
    PendingNonfinite,
    adam_optimizer,
    nonfinite_error,
    nonfinite_flag,
    skips_on_device,
)
from textvae.core.training.run_dir import restore_generator, tensorboard_writer
from textvae.core.training.signals import StopSignals


class TrainableModel(Protocol):
    """What the loop itself needs of a model: the parameters it optimises and clips."""

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...


ResultT = TypeVar("ResultT")  # what a trainer's run() returns
# The model a trainer drives (the text trainer's: a textvae.text.models.contracts.SentenceModel).
ModelT = TypeVar("ModelT", bound=TrainableModel)
VALIDATION_SEED_OFFSET = 1_000_003  # validation draws from seed + this, apart from training's


class TrainerBase(ABC, Generic[ResultT, ModelT]):
    """What every training run shares, whatever it trains (sentences in :mod:`textvae.text.training.train`,
    images in :mod:`textvae.image.training.train`): the optimiser, LR plateau, gradient scaler and seeded generator
    built from ``TrainConfig``; the position counters; their checkpointed state; one optimiser
    step; the non-finite-loss policy; the metrics file; and the epoch/step loop, :meth:`run`.

    Subclasses add their counters to :attr:`counters`, call :meth:`optimizer_step`, and supply
    what the loop does not know through the hooks: the abstract :meth:`batches`,
    :meth:`train_batch`, :meth:`train_metrics`, :meth:`validate`, :meth:`_scheduled_validation`,
    :meth:`selection_score`, :meth:`save`, :meth:`start_message` and :meth:`result` (a trainer
    without one of them fails at construction), and :meth:`progress_postfix` and
    :meth:`_validation_due`, which have defaults.
    """

    counters: tuple[str, ...] = ("step", "epoch", "batch_in_epoch", "bad_epochs",
                                 "skipped_batches", "best_checkpoint_score")
    best_counter: str  # the subclass's counter of the best scheduled validation score

    def __init__(self, config: Any, model: ModelT, device: torch.device, *,
                 log: Callable[[str], None] = print, writes: bool = True,
                 progress: bool = False) -> None:
        self.config = config
        self.tc = config.train
        self.model = model
        self.device = device
        self.log = log
        self.writes = writes  # False on distributed ranks other than 0
        self.progress = progress  # show progress (textvae.core.training.display)
        # What the entry point asks to record in every checkpoint's meta.json (e.g. the command
        # line that trained the run, for the model card); the loop only passes it on in save().
        self.meta_extra: dict[str, Any] = {}
        self.run_dir = Path(self.tc.out_dir)
        self.amp_dtype = autocast_dtype(self.tc.amp, device)
        log(precision_note(self.tc.amp, device, self.amp_dtype))
        if device.type == "cpu" and self.amp_dtype == torch.bfloat16 and not cpu_has_fast_bf16():
            log("note: train.amp is bf16, but this CPU has no AMX or AVX512-BF16 units, so bf16 "
                "runs slower than float32 here; --set train.amp=off trains faster")
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer
        if self.tc.optimizer == "adam":
            self.optimizer = adam_optimizer(params, self.tc.lr)
        else:
            self.optimizer = torch.optim.SGD(params, lr=self.tc.lr, momentum=self.tc.momentum)
        # lr_patience None: an infinite patience never decays, and the scheduler's state keeps the
        # same keys, so checkpoints look alike either way.
        patience = math.inf if self.tc.lr_patience is None else self.tc.lr_patience
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=self.tc.lr_decay,
            patience=patience,  # type: ignore[arg-type]  # stubs say int; inf is never reached
            min_lr=self.tc.min_lr,
        )
        self.generator = torch.Generator(device=device).manual_seed(self.tc.seed)
        # Counters: the position in training, saved with every checkpoint.
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.bad_epochs = 0  # epochs since validation last improved (early stopping)
        self.skipped_batches = 0  # batches dropped for a non-finite loss (train.nonfinite=skip)
        self._pending_nonfinite = PendingNonfinite()  # seen by guarded_step, not yet read
        self.tb = tensorboard_writer(self.run_dir) if writes else None
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
            "generator_device": self.device.type,
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
        restore_generator(self.generator, state, seed=self.tc.seed, log=self.log)
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

    def _stop_check_due(self, epoch_done: bool) -> bool:
        """Whether this step checks the clock and signals (one process: every step)."""
        return True

    def _any_rank_on_device(self, flag: torch.Tensor) -> torch.Tensor:
        """:meth:`_any_rank` of a 0/1 float32 device scalar, without reading it."""
        return flag

    def skip_nonfinite(self, loss: torch.Tensor) -> bool:
        """Apply ``train.nonfinite`` to a batch's loss: False to go on with the update, True to
        skip the batch (``skip``, counted); with ``stop`` a non-finite loss raises. Reads the
        loss on the host; :meth:`guarded_step` does not (:mod:`textvae.core.training.optim`)."""
        if not self._any_rank(not bool(torch.isfinite(loss))):
            return False
        self._nonfinite(1, self.step + 1, loss.item())
        return True

    def _nonfinite(self, count: int, first_step: int, first_loss: float) -> None:
        if self.tc.nonfinite != "skip":
            raise nonfinite_error(first_loss, first_step, self.run_dir)
        # No update from them; still consumed, so the data order (and resume) is unchanged.
        self.skipped_batches += count

    def guarded_step(self, loss: torch.Tensor, before_step: Callable[[], None] | None = None,
                     *, global_loss: torch.Tensor | None = None) -> None:
        """:meth:`optimizer_step` unless ``loss`` is non-finite, decided on the device; the policy
        applies at the next :meth:`settle_nonfinite` (the design: :mod:`textvae.core.training.optim`).
        ``global_loss``: the loss already summed over ranks (it is non-finite when any rank's
        is), which spares the job a second all-reduce for the test."""
        if not skips_on_device(self.optimizer, self.scaler):  # test the loss on the host
            return None if self.skip_nonfinite(loss) else self.optimizer_step(loss, before_step)
        if global_loss is not None:
            bad = nonfinite_flag(global_loss)  # ()
        else:
            bad = self._any_rank_on_device(nonfinite_flag(loss))  # ()
        self._pending_nonfinite.add(bad, loss, self.step + 1)
        self.optimizer_step(loss, before_step, found_inf=bad)

    def settle_nonfinite(self) -> None:
        """Apply ``train.nonfinite`` to the non-finite losses :meth:`guarded_step` has seen
        since the last call (one wait on a GPU)."""
        seen = self._pending_nonfinite.read()
        if seen is not None:
            self._nonfinite(*seen)

    def optimizer_step(self, loss: torch.Tensor, before_step: Callable[[], None] | None = None,
                       *, found_inf: torch.Tensor | None = None) -> None:
        """Backward, ``before_step()`` (e.g. dropping the gradients of parameters this step
        must not update), gradient clipping, update.

        ``before_step`` runs before clipping, so the clipping norm is that of the gradients the
        step applies (clipping first would scale the kept gradients by a norm that counted the
        dropped ones). ``found_inf``: a float32 device scalar, 1 to make a fused optimiser skip
        its update (:meth:`guarded_step`)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if before_step is not None:
            before_step()
        if self.tc.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
        if found_inf is not None:  # a fused optimiser's step() skips on this attribute
            vars(self.optimizer)["found_inf"] = found_inf  # set the way GradScaler sets it
        self.scaler.step(self.optimizer)
        vars(self.optimizer).pop("found_inf", None)
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

    @abstractmethod
    def batches(self, epoch: int) -> Sequence[Any]:
        """The epoch's batches, in training order; it must depend only on (seed, epoch), so that
        a run resumed at ``batch_in_epoch`` continues the same order."""

    @abstractmethod
    def train_batch(self, batch: Any) -> tuple[LossTerms, int]:
        """One training step on ``batch`` (an item of :meth:`batches`): build the tensors, move
        them to the device, :meth:`train_step`. Returns the step's loss terms and how many units
        (target tokens, images) it trained on, for the throughput in the train rows."""

    @abstractmethod
    def train_metrics(self, terms: LossTerms, per_second: float) -> dict[str, Any]:
        """A train row of ``metrics.jsonl`` after its ``split``, ``step`` and ``epoch``: the
        last step's ``terms`` and the run's state; ``per_second``: units trained on per second
        since the last train row."""

    def progress_postfix(self, row: dict[str, Any]) -> dict[str, str]:
        """What the progress bar (or line) shows of a train row."""
        return {"loss": f"{row['loss']:.1f}"}

    @abstractmethod
    def validate(self) -> dict[str, float] | None:
        """The validation figures of the model as it stands; None without validation data.
        It must move no training state (its own generator, seeded afresh)."""

    def _validation_due(self) -> bool:
        """Whether a scheduled validation follows this step although its epoch goes on (every
        epoch end has one anyway): every ``train.eval_every`` steps."""
        return self.tc.eval_every is not None and self.step % self.tc.eval_every == 0

    @abstractmethod
    def _scheduled_validation(self, *, end_of_epoch: bool) -> dict[str, float] | None:
        """Validate, record and log it, and keep the best score in the counters, judging the
        score with :meth:`_validation_improves`."""

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

    @abstractmethod
    def selection_score(self, valid: dict[str, float]) -> float | None:
        """The score (lower is better) that picks ``best`` among validations; None when this
        validation may not be ``best``."""

    def _new_best(self, valid: dict[str, float] | None) -> bool:
        """Whether a validation at this step beats every checkpoint so far (then it is kept as
        :attr:`best_checkpoint_score`)."""
        score = None if valid is None else self.selection_score(valid)
        if score is None or not score < self.best_checkpoint_score:
            return False
        self.best_checkpoint_score = score
        return True

    @abstractmethod
    def save(self, valid: dict[str, float] | None = None, *, is_best: bool = False) -> Path | None:
        """Write a checkpoint of the model and :meth:`state_dict`, with ``valid`` (the figures
        of a validation at this very step, or None) and :attr:`meta_extra` in its meta;
        ``is_best`` points ``best`` at it."""

    @abstractmethod
    def start_message(self) -> str:
        """The line logged as training starts."""

    def planned_steps(self) -> int:
        """The steps the budget plans: ``train.epochs`` of batches, capped by ``max_steps``."""
        return planned_steps(self.tc.epochs, len(self.batches(0)), self.tc.max_steps)

    def anneal_in_run_steps(self, steps_before_kl: int = 0) -> None:
        """Turn ``train.kl.anneal_fraction`` into steps of this run, the KL counting after the
        first ``steps_before_kl`` (a fresh run: a resumed one's saved config holds the steps)."""
        planned = self.planned_steps()
        planned -= min(planned - 1, steps_before_kl)
        self.config, note = anneal_in_run_steps(self.config, planned)
        self.tc = self.config.train
        if note:
            self.log(note)

    def budget_notes(self, stopped: str) -> list[str]:
        """What the summary must say when ``max_minutes`` ended the run early (:func:`budget_notes`)."""
        return budget_notes(stopped, self.step, self.planned_steps())

    @abstractmethod
    def result(self, stopped: str, valid: dict[str, float], seconds: float) -> ResultT:
        """What :meth:`run` returns: ``stopped`` says why it stopped, ``valid`` holds the last
        validation's figures ({} without validation data)."""

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> ResultT:
        """Train until the epoch budget, ``max_steps``, ``max_minutes``, early stopping or a
        signal; save at every epoch end, every ``checkpoint_every`` steps, every improving
        validation and at the end, which is validated. Returns :meth:`result`.

        On the CPU the thread count is chosen for the run (:func:`~textvae.core.device.choose_threads`:
        ``train.threads``, else the cores other work leaves free) and restored afterwards."""
        threads = torch.get_num_threads()
        if self.device.type == "cpu":
            chosen, note = choose_threads(self.tc.threads)
            torch.set_num_threads(chosen)
            self.log(note)
        try:
            return self._run()
        finally:
            torch.set_num_threads(threads)

    def _run(self) -> ResultT:
        tc = self.tc
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_start = start = time.monotonic()
        stopped = ""
        valid: dict[str, float] | None = None
        valid_step = -1
        self.log(self.start_message())
        window_units, window_start = 0, time.monotonic()
        with StopSignals() as signals, TrainingProgress.of(self) as shown:
            while not stopped:
                if self.epoch >= tc.epochs:
                    stopped = f"finished {tc.epochs} epochs"
                    break
                if tc.max_steps is not None and self.step >= tc.max_steps:
                    # Only on resuming a run that had already reached its budget.
                    stopped = f"reached max_steps={tc.max_steps}"
                    break
                batches = self.batches(self.epoch)
                shown.start_epoch(self.epoch, len(batches), self.batch_in_epoch)
                while self.batch_in_epoch < len(batches):
                    terms, units = self.train_batch(batches[self.batch_in_epoch])
                    self.step += 1
                    self.batch_in_epoch += 1
                    window_units += units
                    shown.step()
                    epoch_done = self.batch_in_epoch == len(batches)
                    if self.step % tc.log_every == 0 or epoch_done:
                        self.settle_nonfinite()  # the row's skipped_batches; a stop raises
                        elapsed = time.monotonic() - window_start
                        row = {"split": "train", "step": self.step, "epoch": self.epoch,
                               **self.train_metrics(terms, window_units / max(elapsed, 1e-9))}
                        self._write_metrics(row)
                        shown.set_postfix(self.progress_postfix(row))
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
                    # Ranks must stop at the same step: agree on the two clock/signal events, at
                    # the steps where a distributed job compares notes (no all-reduce per step).
                    if (self._stop_check_due(epoch_done)
                            and self._any_rank(out_of_time or bool(signals.received))):
                        if signals.received:
                            stopped = f"received {signals.received}"
                        else:
                            stopped = stopped or (f"reached max_minutes={tc.max_minutes}"
                                                  if out_of_time else "another rank stopped")
                    # An improving validation between checkpoint steps (train.eval_every) is
                    # saved at once, so `best` is always the best model validated.
                    if (self.step % tc.checkpoint_every == 0 or epoch_done or stopped
                            or self._improved):
                        self.settle_nonfinite()  # nothing is saved after a stopping loss
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
                shown.end_epoch()
            if valid_step != self.step:  # finished all epochs exactly at a saved step
                valid = self.validate()
                self.save(valid, is_best=self._new_best(valid))
        if self.tb is not None:
            self.tb.close()
        return self.result(stopped, valid or {}, time.monotonic() - start)
