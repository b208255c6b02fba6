"""What a run's budget planned, and what its summary must say when the clock ended it early."""

from __future__ import annotations


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
