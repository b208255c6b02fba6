"""The run-directory rules every trainer shares, text or image.

A run directory (``train.out_dir``) holds ``metrics.jsonl``, TensorBoard events when tensorboard
is installed, ``checkpoints/step-N/`` and the ``last`` and ``best`` links (see
:mod:`textvae.checkpoint`). A fresh run refuses a directory that already holds one; ``--resume``
continues it from ``last``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textvae.checkpoint import Checkpoint, load_checkpoint
from textvae.errors import TextVAEError
from textvae.files import write_text


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
        truncate_metrics(run_dir / "metrics.jsonl", 0)
        return config, None
    if not (run_dir / "last").exists():
        raise TextVAEError(f"cannot resume: {run_dir / 'last'} does not exist (train without --resume)")
    checkpoint = load_checkpoint(run_dir / "last", kind=kind, config_class=type(config),
                                 with_trainer=True)
    budget = {k: getattr(config.train, k) for k in ("epochs", "max_steps", "max_minutes", "device")}
    return replace(checkpoint.config, train=replace(checkpoint.config.train, **budget)), checkpoint



def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric rows logged after ``step`` (work that the resumed run will redo)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if row_step(line) <= step]
    write_text(path, "".join(line + "\n" for line in rows))  # a kill leaves old or new, whole


def row_step(line: str) -> float:
    """A metrics row's step; a row cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf



def resume_trainer(trainer: Any, checkpoint: Checkpoint | None, log: Callable[[str], None]) -> None:
    """Give a freshly built trainer the checkpoint's state (optimiser, RNG streams, counters) and
    drop the metric rows it will redo; nothing for a fresh run."""
    if checkpoint is None:
        return
    trainer.load_state_dict(checkpoint.trainer_state)
    truncate_metrics(trainer.run_dir / "metrics.jsonl", trainer.step)
    log(f"resumed from {checkpoint.path} at step {trainer.step} (epoch {trainer.epoch + 1})")
