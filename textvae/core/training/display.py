"""What the training loop shows while it trains, through :mod:`textvae.core.progress`:
:class:`TrainingProgress`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from textvae.core.progress import Progress, display_mode


class TrainingProgress:
    """The progress of a training run (text or image: :class:`~textvae.core.training.loop.TrainerBase`).

    On a terminal, a tqdm bar over each epoch's batches (``epoch 3/100``), closed at the
    epoch's end; in a log, a line every N seconds over the whole run: ``training, epoch 3/100:
    1200/9000 steps (13%), 9.8 steps/s, ETA 13m16s, loss=..., tok_s=...`` (the figures of the
    latest train row, from the trainer's ``progress_postfix``); nothing when not ``enabled``.

    Args:
        enabled: False shows nothing (``--no-progress``).
        epochs: ``train.epochs``.
        planned_steps: the run's planned steps (asked only for the lines).
        step: the steps already done (a resumed run).
    """

    def __init__(self, enabled: bool, *, epochs: int, planned_steps: Callable[[], int],
                 step: int) -> None:
        self.mode = display_mode(enabled)
        self.epochs = epochs
        self.run = Progress(planned_steps() if self.mode == "lines" else None, desc="training",
                            unit="steps", initial=step,
                            mode="lines" if self.mode == "lines" else "off")
        self.epoch = Progress(None, desc="", mode="off")

    @classmethod
    def of(cls, trainer: Any) -> TrainingProgress:
        """The progress of ``trainer`` (a :class:`~textvae.core.training.loop.TrainerBase`) from
        where it stands."""
        return cls(trainer.progress, epochs=trainer.tc.epochs,
                   planned_steps=trainer.planned_steps, step=trainer.step)

    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """Epoch ``epoch`` (from 0) of ``batches`` batches begins, ``done`` of them already
        trained on (a resumed run)."""
        desc = f"epoch {epoch + 1}/{self.epochs}"
        self.run.set_description(f"training, {desc}")
        if self.mode == "bar":
            self.epoch = Progress(batches, desc=desc, initial=done, leave=False, mode="bar")

    def step(self) -> None:
        self.epoch.update(1)
        self.run.update(1)

    def set_postfix(self, figures: Mapping[str, str]) -> None:
        self.epoch.set_postfix(figures)
        self.run.set_postfix(figures)

    def end_epoch(self) -> None:
        self.epoch.close()

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.epoch.close()
        self.run.close()
