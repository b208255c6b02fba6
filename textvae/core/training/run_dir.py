"""The run-directory rules every trainer shares, text or image.

A run directory (``train.out_dir``) holds ``metrics.jsonl``, TensorBoard events when tensorboard
is installed, ``checkpoints/step-N/`` and the ``last`` and ``best`` links (see
:mod:`textvae.core.checkpoint`). A fresh run refuses a directory that already holds one; ``--resume``
continues it from ``last``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from textvae.core.checkpoint import (
    Checkpoint,
    CheckpointKind,
    SavesToFolder,
    load_checkpoint,
    point_link,
    prune_checkpoints,
    write_checkpoint,
)
from textvae.core.errors import ConfigError, FileWriteError, TextVAEError
from textvae.core.files import output_problem, write_text
from textvae.core.version import __version__

# torch.Generator().get_state() of a CPU generator is 5,056 bytes (Mersenne Twister); a CUDA
# generator's is 16 (Philox seed and offset). Checkpoints from before `generator_device` was
# saved are told apart by it.
CPU_GENERATOR_STATE_BYTES = 5056
RESUME_SEED_STRIDE = 1_000_033  # a fresh stream after a device change: seed * stride + step


def open_run(config: Any, *, resume: bool, kind: CheckpointKind) -> tuple[Any, Any]:
    """The run-directory rules every trainer shares (``kind``: ``text`` or ``image``).

    Resuming needs ``out_dir/last`` of the same kind and takes the saved config, except for the
    budget (``train.epochs``, ``max_steps``, ``max_minutes``), where it runs (``train.device``,
    ``threads``) and ``train.out_dir`` itself; any other setting asked for that differs from the
    saved run's is an error (:func:`check_resumable`), not silently dropped. A fresh run
    refuses a directory that already holds one, and starts ``metrics.jsonl`` anew (a run killed
    before its first checkpoint may have left rows).

    Returns:
        ``(config, checkpoint)``: the config to train with, and the checkpoint to resume from
        (None for a fresh run).

    Raises:
        FileWriteError: ``out_dir`` is a file, or read-only, or cannot be created (before
            the corpus is read).
        ConfigError: a resume asks for settings the saved run does not have.
    """
    run_dir = Path(config.train.out_dir)
    problem = output_problem(run_dir, folder=True)
    if problem is not None:
        raise FileWriteError(f"cannot write train.out_dir {run_dir}: {problem}")
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
    checkpoint = load_checkpoint(run_dir / "last", kind, with_trainer=True)
    check_resumable(config, checkpoint.config)
    carried = {k: getattr(config.train, k) for k in RESUME_SETTINGS if hasattr(config.train, k)}
    return replace(checkpoint.config, train=replace(checkpoint.config.train, **carried)), checkpoint


# The train settings a resumed run takes from the request: its budget, where it runs, and where
# the run lies (a run directory moved since is continued where it is now).
RESUME_SETTINGS = ("epochs", "max_steps", "max_minutes", "device", "threads", "out_dir")
# A run turns train.kl.anneal_fraction into steps at its start and saves those, with the
# fraction cleared (objectives.schedule_for_run): a request with a fraction differs there.
_ANNEAL_KEYS = ("anneal_fraction", "warmup_steps", "x0", "k", "total_steps")


def check_resumable(asked: Any, saved: Any) -> None:
    """Refuse to resume with settings that would be silently ignored: each one ``asked`` sets
    (away from its default) that differs from the ``saved`` run's, other than
    :data:`RESUME_SETTINGS`. Resuming with the run's own config file, or with only the run
    directory and a budget, passes; a path counts as the same file however it is spelled.

    Raises:
        ConfigError: naming each such setting with both values.
    """
    defaults, before = _flat(asdict(type(asked)())), _flat(asdict(saved))
    skip = {f"train.{k}" for k in RESUME_SETTINGS}
    if asked.train.kl.anneal_fraction is not None:
        skip |= {f"train.kl.{k}" for k in _ANNEAL_KEYS}
    differ = [
        f"{key} (saved {_shown(before.get(key))}, asked {_shown(value)})"
        for key, value in _flat(asdict(asked)).items()
        if key not in skip and value != defaults.get(key) and not _same(value, before.get(key))
    ]
    if differ:
        raise ConfigError(
            "--resume continues the saved run; these settings differ from it and cannot change "
            f"mid-run: {', '.join(differ)}. Start a new run (another train.out_dir) to change them"
        )


def _flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    """A nested dict as dotted keys: {"train.kl.kind": ...}."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _same(a: Any, b: Any) -> bool:
    """Equal values, or two spellings of one path (the saved config holds absolute paths)."""
    if a == b:
        return True
    return isinstance(a, str) and isinstance(b, str) and _real(a) == _real(b)


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except ValueError:  # a NUL in the string: no path at all
        return path


def _shown(value: Any) -> str:
    """A value as YAML would write it (null, true, 0.001), strings bare."""
    return value if isinstance(value, str) else json.dumps(value)



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



def save_checkpoint(trainer: Any, meta: dict[str, Any], *, tokenizer: SavesToFolder | None,
                    kind: str, is_best: bool) -> Path:
    """Write ``trainer``'s model and state (its :meth:`state_dict`) as the run's next checkpoint,
    with ``meta`` after the version, model type, step and epoch and before
    ``trainer.meta_extra``; point ``best`` at it when ``is_best``; delete the checkpoints that
    neither link names. The one checkpoint writer of the text and image trainers."""
    meta = {"textvae_version": __version__, "model_type": trainer.config.model.model_type,
            "step": trainer.step, "epoch": trainer.epoch, **meta, **trainer.meta_extra}
    path = write_checkpoint(trainer.run_dir, config=trainer.config, tokenizer=tokenizer,
                            model_state=trainer.model.state_dict(),
                            trainer_state=trainer.state_dict(), meta=meta, kind=kind)
    if is_best:
        point_link(trainer.run_dir, "best", path)
    prune_checkpoints(trainer.run_dir)
    return path


def resume_trainer(trainer: Any, checkpoint: Checkpoint | None, log: Callable[[str], None]) -> None:
    """Give a freshly built trainer the checkpoint's state (optimiser, RNG streams, counters) and
    drop the metric rows it will redo; nothing for a fresh run."""
    if checkpoint is None:
        return
    trainer.load_state_dict(checkpoint.trainer_state)
    truncate_metrics(trainer.run_dir / "metrics.jsonl", trainer.step)
    log(f"resumed from {checkpoint.path} at step {trainer.step} (epoch {trainer.epoch + 1})")


def tensorboard_writer(run_dir: Path):
    """A SummaryWriter when tensorboard is installed (``pip install textvae[tensorboard]``)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def restore_generator(generator: torch.Generator, state: dict[str, Any], *, seed: int,
                      log: Callable[[str], None]) -> None:
    """Continue the saved training generator's stream (``state``: a trainer's saved state), or,
    for a run resumed on another kind of device (CPU <-> CUDA), whose generator state cannot be
    read here, start a fresh one seeded from (seed, step) and say so: the weights, optimiser and
    data position still carry over."""
    saved = state["generator"]
    saved_on = state.get("generator_device") or (
        "cpu" if saved.numel() == CPU_GENERATOR_STATE_BYTES else "cuda"
    )
    here = generator.device.type
    if saved_on == here:
        generator.set_state(saved)
        return
    generator.manual_seed(seed * RESUME_SEED_STRIDE + state["step"])
    log(f"note: this run was trained on {saved_on} and resumes on {here}; "
        "a random-number stream cannot move between them, so word dropout and the "
        "sampling noise continue from a fresh seed (the run is no longer bitwise the "
        "uninterrupted one)")
