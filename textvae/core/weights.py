"""A state dict on disk: safetensors, the ecosystem's weight format (a JSON header, then the raw
bytes of each tensor; nothing is unpickled on reading), for model weights and the aggregate prior.

:mod:`textvae.core.checkpoint` decides which files a checkpoint holds; this module only turns named
tensors into one file and back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from textvae.core.errors import CheckpointError
from textvae.core.files import write_failure, write_with

# The file's metadata key for {name: the name it aliases}: tensors that share memory (tied weights).
ALIASES_KEY = "textvae_aliases"


def save_tensor_file(tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str]) -> Path:
    """Write named tensors to a safetensors file atomically (:func:`textvae.core.files.write_with`).

    safetensors stores each tensor's bytes once and refuses tensors that share memory or are
    not contiguous. A state dict has both: tied weights (``tie_embeddings``: the output layer's
    weight *is* the embedding) appear under two names. A name that is the very same view as an
    earlier one is stored once and recorded as an alias in the file's metadata, so the file is
    no bigger and :func:`read_tensor_file` gives back every name; any other tensor is written
    as a contiguous CPU copy (a partial overlap becomes two independent copies).

    Raises:
        FileWriteError: the file could not be written (the message names it and the reason).
    """
    path = Path(path)
    stored: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}  # a view's identity -> the first name stored for it
    storages: set[tuple] = set()  # the memory of every tensor stored so far
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} is a {type(tensor).__name__}, not a tensor")
        storage = (tensor.device, tensor.untyped_storage().data_ptr())
        view = (*storage, tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()),
                tensor.dtype)
        if view in seen:
            aliases[name] = seen[view]
            continue
        seen[view] = name
        # Another view of memory already stored gets bytes of its own (clone); anything else is
        # written as it is, without a copy when it is already a contiguous CPU tensor.
        cpu = tensor.detach().to("cpu").contiguous()
        stored[name] = cpu.clone() if storage in storages else cpu
        storages.add(storage)
    metadata = {"format": "pt"}  # what Hugging Face tools expect of a torch file
    if aliases:
        metadata[ALIASES_KEY] = json.dumps(aliases)

    def write(tmp: Path) -> None:
        try:
            save_file(stored, tmp, metadata=metadata)
        except SafetensorError as err:  # its I/O errors (a full disk) are not OSErrors
            # "Error while serializing: I/O error: No space left on device (os error 28)"
            reason = re.sub(r" \(os error \d+\)$", "", str(err).splitlines()[0][:200])
            raise write_failure(path, reason.rpartition("I/O error: ")[2]) from None

    return write_with(path, write)


def read_tensor_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a file written by :func:`save_tensor_file` (on the CPU), aliases included.

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or not safetensors.
    """
    path = Path(path)
    try:
        tensors = load_file(path, device="cpu")
        with safe_open(path, framework="pt") as fh:
            aliases = json.loads((fh.metadata() or {}).get(ALIASES_KEY, "{}"))
        for name, target in aliases.items():
            tensors[name] = tensors[target]
    except Exception as err:  # noqa: BLE001 - truncated, corrupt, or not a safetensors file
        raise CheckpointError(
            f"cannot read {path} ({_first_line(err)}). The file is truncated, corrupt, "
            "or not a safetensors file."
        ) from None
    return tensors


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:160].rstrip(".") if text else type(err).__name__
