"""What a run's budget planned, the KL annealing fitted into it, and what its summary must say
when the clock ended it early."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textvae.core.objectives import fitted_steps, schedule_for_run


def planned_steps(epochs: int, batches_per_epoch: int, max_steps: int | None) -> int:
    """The steps a budget plans: ``epochs`` of batches, capped by ``max_steps``."""
    planned = epochs * batches_per_epoch
    return planned if max_steps is None else min(planned, max_steps)


def budget_notes(stopped: str, step: int, planned: int) -> list[str]:
    """A note when ``train.max_minutes`` ended a run before its planned steps; a warning when it
    ran less than half of them (the model is then far from the recipe's, and its figures and
    samples must not pass for a finished run's). ``stopped``: why the run stopped."""
    if not stopped.startswith("reached max_minutes") or step >= planned:
        return []
    done = f"{step:,} of {planned:,} planned steps ({step / planned:.0%})"
    if 2 * step >= planned:
        return [f"note: train.max_minutes ended the run after {done}"]
    return [f"warning: train.max_minutes ended the run after {done}: the model is far from "
            "trained, and its figures and samples are not those of the finished recipe. "
            "Continue it with --resume --set train.max_minutes=null, or train where the cores "
            "are free (see the threads line above)"]


def anneal_in_run_steps(config: Any, planned: int) -> tuple[Any, str | None]:
    """A run config (any side's: its ``train.kl`` is the shared schedule) with
    ``train.kl.anneal_fraction`` turned into steps of a run of ``planned`` steps
    (:func:`textvae.core.objectives.schedule_for_run`), and the line that says what was chosen; the
    config as it is, and None, without a fraction."""
    kl = config.train.kl
    fitted = schedule_for_run(kl, planned)
    if fitted is kl:
        return config, None
    chosen = ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                       for name, value in fitted_steps(fitted).items())
    note = f"KL annealing over {kl.anneal_fraction:g} of {planned:,} planned steps: {fitted.kind}, {chosen}"
    return replace(config, train=replace(config.train, kl=fitted)), note
