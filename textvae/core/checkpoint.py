"""Self-describing checkpoint directories, written atomically.

A checkpoint directory holds everything needed to rebuild the model, with nothing else:

    config.yaml     the whole run config (data, model, train)
    meta.json       format version, kind (``text`` or ``image``), model type, step, epoch, metrics
    tokenizer/      the tokenizer's own files (text checkpoints only)
    model.safetensors  the model's state dict in safetensors, the ecosystem's weight format:
                    a JSON header and raw tensor bytes, nothing to unpickle
    trainer.pt      optimizer, LR scheduler, RNG states, data-order position, counters
                    (tensors and plain Python values only; read with weights_only=True)

Checkpoints written before safetensors hold ``model.pt`` (a torch.save state dict) instead; they
still load (``weights_only=True``), and :func:`convert_checkpoint` (``textvae convert``) rewrites
them in place. The optimizer state stays in ``trainer.pt``: it holds plain Python values beside
tensors, which safetensors cannot, and only training reads it.

A run directory keeps its checkpoints under ``checkpoints/step-N`` and two symbolic links,
``last`` and ``best``, that point at them. A checkpoint is written to a temporary directory, then
renamed into place (a directory rename is atomic), and only then is a link switched, again by an
atomic rename. A kill at any moment therefore leaves ``last`` pointing at a whole checkpoint.
Checkpoints that neither link points at are deleted afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml
from torch import nn

from textvae.core.config_types import RunConfig, from_dict, to_dict
from textvae.core.errors import CheckpointError
from textvae.core.files import fsync_dir, fsync_file
from textvae.core.weights import read_tensor_file, save_tensor_file

FORMAT = "textvae-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
LEGACY_WEIGHTS_FILE = "model.pt"  # checkpoints from before safetensors
REQUIRED_FILES = ("config.yaml", "meta.json")  # and the weights, in either file


class SavesToFolder(Protocol):
    """A part of a checkpoint that writes its own files into a folder (a text run's tokenizer)."""

    def save(self, directory: str | os.PathLike[str]) -> None: ...


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns. ``trainer_state`` is None for weights-only reads."""

    path: Path
    config: Any  # the kind's config class: Config for text checkpoints, an image run config
    meta: dict
    tokenizer: Any  # what the kind's read_parts gives: a text run's Tokenizer; None for images
    model_state: dict[str, torch.Tensor]
    trainer_state: dict[str, Any] | None


@dataclass(frozen=True)
class CheckpointKind:
    """What one side reads from its checkpoints, so that this module knows neither side.

    ``name`` is meta.json's ``kind`` (``text`` or ``image``); ``config_class`` the config that
    config.yaml describes (its ``upgrade_saved`` reads older checkpoints' keys). ``check_meta``
    refuses a meta.json the side cannot load before config.yaml is read (a model type it does
    not know); ``read_parts`` reads what the side saves beside the weights (a text run's
    tokenizer) and checks it against meta.json and the config.
    """

    name: str
    config_class: type[RunConfig]
    check_meta: Callable[[Path, dict], None] | None = None
    read_parts: Callable[[Path, dict, Any], Any] | None = None


def write_checkpoint(
    run_dir: str | Path,
    *,
    config: Any,
    tokenizer: SavesToFolder | None,
    model_state: dict[str, torch.Tensor],
    trainer_state: dict[str, Any] | None,
    meta: dict,
    kind: str = "text",
) -> Path:
    """Write ``run_dir/checkpoints/step-N`` atomically and point ``run_dir/last`` at it.

    ``kind`` (``text`` or ``image``) is recorded in meta.json and selects the config class on
    loading; image checkpoints have no tokenizer.

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: the files could not be written (e.g. the disk is full); the temporary
            directory is removed and the previous checkpoint and ``last`` are left untouched.
    """
    run_dir = Path(run_dir)
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{meta['step']:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write_checkpoint_files(tmp, config=config, tokenizer=tokenizer, model_state=model_state,
                               trainer_state=trainer_state, meta=meta, kind=kind)
    except (OSError, RuntimeError) as err:
        # A full disk, a quota or an I/O error (torch.save reports some of these as
        # RuntimeError). Nothing outside the temporary directory was touched yet, so removing
        # it leaves the previous checkpoint, and `last`, exactly as they were.
        shutil.rmtree(tmp, ignore_errors=True)
        previous = run_dir / "last"
        kept = (
            f"the previous checkpoint {previous.resolve()} is intact"
            if previous.exists() else "no earlier checkpoint exists"
        )
        raise CheckpointError(
            f"cannot write checkpoint {final.name} in {root}: {_os_reason(err)}; {kept}. "
            "Free some disk space (or choose another train.out_dir) and resume with --resume."
        ) from None
    if final.exists():  # the same step saved again (e.g. after a resume): replace it whole
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_dir(root)
    point_link(run_dir, "last", final)
    return final


def write_checkpoint_files(
    directory: Path,
    *,
    config: Any,
    tokenizer: SavesToFolder | None,
    model_state: dict[str, torch.Tensor],
    trainer_state: dict[str, Any] | None,
    meta: dict,
    kind: str = "text",
) -> None:
    """Write a checkpoint's files into ``directory`` (an existing, normally temporary, directory
    that the caller renames into place) and flush them to disk.

    The one checkpoint layout, shared by :func:`write_checkpoint` and the shareable folders of
    ``TextVAE.save_pretrained``. ``trainer_state`` None writes no ``trainer.pt``.

    Raises:
        OSError, RuntimeError: the files could not be written; the caller cleans up.
    """
    (directory / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    (directory / "meta.json").write_text(
        json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, **meta},
                   indent=2)
    )
    if tokenizer is not None:
        tokenizer.save(directory / "tokenizer")
    save_tensor_file(model_state, directory / WEIGHTS_FILE)
    if trainer_state is not None:
        torch.save(trainer_state, directory / "trainer.pt")
    for name in os.listdir(directory):
        if (directory / name).is_file():
            fsync_file(directory / name)
    fsync_dir(directory)


def _os_reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


def point_link(run_dir: str | Path, name: str, target: Path) -> None:
    """Atomically make ``run_dir/name`` a symbolic link to ``target`` (relative)."""
    run_dir = Path(run_dir)
    tmp = run_dir / f".{name}.tmp-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, run_dir), tmp)
    os.replace(tmp, run_dir / name)


def prune_checkpoints(run_dir: str | Path) -> None:
    """Delete checkpoints that neither ``last`` nor ``best`` points at, and temporaries that a
    killed writer left behind (only one process trains in a run directory at a time)."""
    run_dir = Path(run_dir)
    keep = {(run_dir / n).resolve() for n in ("last", "best") if (run_dir / n).exists()}
    root = run_dir / "checkpoints"
    for child in root.iterdir() if root.is_dir() else []:
        if child.name.startswith(".tmp-") or (
            child.name.startswith("step-") and child.resolve() not in keep
        ):
            shutil.rmtree(child, ignore_errors=True)
    for child in run_dir.glob(".*.tmp-*"):  # half-made links from point_link
        if child.is_symlink():
            child.unlink(missing_ok=True)


def check_checkpoint_exists(path: str | os.PathLike[str], hint: str = "") -> None:
    """The one not-found check of a checkpoint path: a symbolic link loop, a link to nothing and
    a missing path (then ``hint``) each get their own line, as a :class:`CheckpointError`."""
    try:
        os.stat(path)
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path, which names nothing
        code = getattr(err, "errno", errno.ENOENT)
        if code == errno.ELOOP:
            where = "is" if os.path.islink(path) else "passes through"
            raise CheckpointError(f"checkpoint {path} {where} a symbolic link loop; point it at a run or checkpoint directory") from None
        if os.path.islink(path):
            raise CheckpointError(f"checkpoint {path} is a symbolic link to {os.readlink(path)}, which does not exist") from None
        if code in (errno.ENOENT, errno.ENOTDIR):
            raise CheckpointError(f"checkpoint not found: {path}{hint}") from None
        reason = err.strerror if isinstance(err, OSError) else str(err)  # OSError: ValueErrors end above
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None


def resolve_checkpoint_dir(path: str | os.PathLike[str]) -> Path:
    """The one run-directory rule: a checkpoint directory is itself; a run directory means its
    ``best`` checkpoint, else its ``last``.

    Raises:
        CheckpointError: the path does not exist (:func:`check_checkpoint_exists`).
    """
    path = Path(path)
    check_checkpoint_exists(path)
    if not (path / "meta.json").exists():
        for link in ("best", "last"):
            if (path / link).exists():
                return path / link
    return path


# What to run for a checkpoint of each kind, for the error when the other kind is asked for.
_COMMANDS = {"text": "textvae sample|evaluate|train", "image": "textvae image sample|evaluate|plot|train"}


def load_checkpoint(
    path: str | os.PathLike[str], kind: CheckpointKind, *, with_trainer: bool = False,
) -> Checkpoint:
    """Read a checkpoint directory, or a run directory by :func:`resolve_checkpoint_dir`.

    Weights are read from ``model.safetensors`` (nothing to unpickle), or from a legacy
    ``model.pt`` when that is all there is; ``model.pt`` and ``trainer.pt`` are read with
    ``torch.load(weights_only=True)``, which refuses to unpickle anything but tensors and plain
    containers.

    Args:
        path: a checkpoint or run directory.
        kind: the kind of checkpoint asked for (:class:`CheckpointKind`: text is
            ``textvae.text.run.checkpoint.TEXT``); another kind is an error.
        with_trainer: also read ``trainer.pt`` (to resume training).

    Raises:
        CheckpointError: if the directory or one of its files is missing or unreadable, or it
            holds a checkpoint of another kind.
    """
    path = resolve_checkpoint_dir(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if weights_file(path) is None:
        missing.append(f"{WEIGHTS_FILE} (or, from older versions, {LEGACY_WEIGHTS_FILE})")
    if missing:
        raise CheckpointError(
            f"{path} is not a complete textvae checkpoint: missing {', '.join(missing)}"
        )
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path / 'meta.json'} is not valid JSON ({err})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a textvae checkpoint (meta.json has no format tag)")
    found = meta.get("kind", "text")  # checkpoints from before image support are text
    if found not in _COMMANDS:
        raise CheckpointError(f"{path}: unknown checkpoint kind {found!r} in meta.json")
    if found != kind.name:
        article = "an" if found == "image" else "a"
        raise CheckpointError(
            f"{path} is {article} {found}-model checkpoint, not {kind.name}; use "
            f"`{_COMMANDS[found]}` for it"
        )
    if kind.check_meta is not None:
        kind.check_meta(path, meta)
    try:
        raw = yaml.safe_load((path / "config.yaml").read_text()) or {}
        config = from_dict(kind.config_class, kind.config_class.upgrade_saved(raw))
    except Exception as err:  # noqa: BLE001 - any failure here means the file is unusable
        raise CheckpointError(f"{path / 'config.yaml'} is invalid: {err}") from None
    parts = kind.read_parts(path, meta, config) if kind.read_parts is not None else None
    model_state = read_weights(path)
    trainer_state = None
    if with_trainer:
        if not (path / "trainer.pt").is_file():
            raise CheckpointError(f"{path} has no trainer.pt, so training cannot resume from it")
        trainer_state = _torch_load(path / "trainer.pt")
    return Checkpoint(path, config, meta, parts, model_state, trainer_state)


def weights_file(directory: Path) -> Path | None:
    """The checkpoint's weights: ``model.safetensors``, else a legacy ``model.pt``, else None."""
    for name in (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE):
        if (directory / name).is_file():
            return directory / name
    return None


def read_weights(directory: Path) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint directory, from either weights file.

    Raises:
        CheckpointError: no weights file, or an unreadable one.
    """
    file = weights_file(directory)
    if file is None:
        raise CheckpointError(f"{directory} holds no {WEIGHTS_FILE} (nor a legacy {LEGACY_WEIGHTS_FILE})")
    return read_tensor_file(file) if file.name == WEIGHTS_FILE else _torch_load(file)


def convert_checkpoint(path: str | os.PathLike[str]) -> list[tuple[Path, bool]]:
    """Rewrite legacy ``model.pt`` weights as ``model.safetensors``, in place.

    ``path`` is a checkpoint directory, or a run directory (then every checkpoint under its
    ``checkpoints/``: ``best`` and ``last`` may be two). For each, the new file is written
    atomically and flushed, read back and compared tensor by tensor, the directory entry is
    flushed, and only then is ``model.pt`` removed: a kill at any moment leaves a loadable
    checkpoint (with both files, ``model.safetensors`` is the one read, and converting again
    finishes the job).

    Returns:
        ``(checkpoint directory, converted)`` pairs; ``converted`` is False for one that was
        already in safetensors (then nothing was touched).

    Raises:
        CheckpointError: no checkpoint at ``path``, or unreadable legacy weights.
    """
    path = Path(path)
    check_checkpoint_exists(path)
    if (path / "meta.json").is_file():
        directories = [path]
    else:
        directories = sorted(p for p in (path / "checkpoints").glob("step-*") if p.is_dir())
        if not directories:
            raise CheckpointError(f"{path} is neither a checkpoint directory nor a run directory")
    return [(directory, _convert_one(directory)) for directory in directories]


def _convert_one(directory: Path) -> bool:
    legacy, new = directory / LEGACY_WEIGHTS_FILE, directory / WEIGHTS_FILE
    if not legacy.is_file():
        if not new.is_file():
            raise CheckpointError(f"{directory} holds no weights ({WEIGHTS_FILE} or {LEGACY_WEIGHTS_FILE})")
        return False
    state = _torch_load(legacy)
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"{legacy} is not a state dict of tensors; it cannot be converted")
    save_tensor_file(state, new)  # atomic, and flushed before the rename
    back = read_tensor_file(new)
    if back.keys() != state.keys() or not all(torch.equal(back[k], state[k]) for k in state):
        new.unlink()
        raise CheckpointError(f"{new} did not read back equal to {legacy}; {legacy} is kept")
    fsync_dir(directory)
    legacy.unlink()
    fsync_dir(directory)
    return True


def load_weights(model: nn.Module, checkpoint: Checkpoint) -> None:
    """Load the checkpoint's weights into ``model`` (built from its config).

    Raises:
        CheckpointError: the weights do not fit the model (missing, unexpected or mis-shaped
            tensors), named with the checkpoint's path and torch's first line.
    """
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{checkpoint.path}: the weights do not match the model its config describes "
            f"({str(err).splitlines()[0][:200]})"
        ) from None


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, corrupt, or carrying a pickled payload
        raise CheckpointError(
            f"cannot read {path} ({_first_sentence(err)}). "
            "The file is truncated, corrupt, or holds objects other than tensors "
            "(textvae never unpickles arbitrary objects)."
        ) from None


def _first_sentence(err: BaseException) -> str:
    """torch's load errors run to paragraphs; their first sentence says what failed."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". ")[0].rstrip(".")[:160]
