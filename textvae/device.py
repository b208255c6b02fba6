"""Where tensors live and in which precision the training step runs.

Only entry points and trainers choose a device; models and metrics follow their inputs
(``*_like`` constructors), so nothing below this module knows about devices.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from textvae.errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else must be a usable device."""
    if isinstance(name, torch.device):
        return name
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


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device``, or nothing when ``dtype`` is None (float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
