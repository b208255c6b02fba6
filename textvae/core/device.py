"""Where tensors live and in which precision the training step runs.

Only entry points and trainers choose a device; models and metrics follow their inputs
(``*_like`` constructors), so nothing below this module knows about devices.
"""

from __future__ import annotations

import os
import time
from contextlib import AbstractContextManager, nullcontext

import torch

from textvae.core.errors import ConfigError


def resolve_device(name: str | torch.device, *, source: str = "train.device") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else must be a usable device.

    ``source`` is where the name came from, and errors name it as the user wrote it: a flag as
    ``--device cuda: ...``, a config key or an argument as ``train.device='cuda': ...``.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    given = f"{source} {name}" if source.startswith("-") else f"{source}={name!r}"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{given}: unknown device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{given}: CUDA is not available here; use auto or cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ConfigError(f"{given}: this machine has {count} CUDA device{'s' * (count != 1)} ({have})")
    return device


def autocast_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of training (evaluation always runs in float32).

    ``auto`` picks what is fast and safe on the hardware: on CUDA, bf16 where the GPU has it
    natively (Ampere and later), else fp16 with loss scaling; on the CPU, bf16 where the CPU has
    bfloat16 matrix units (AMX or AVX512-BF16: several times faster, docs/performance.md has the
    measurements), else float32 (oneDNN emulates bf16 there, which is slower). ``bf16`` and
    ``fp16`` force a dtype; fp16 is CUDA-only. :func:`precision_note` says which was chosen.
    """
    if setting == "off":
        return None
    if device.type == "cuda":
        if setting == "auto":
            return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
        return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]
    if setting == "fp16":
        raise ConfigError("train.amp=fp16 needs CUDA; on the CPU use bf16 (or off)")
    if setting == "auto":
        return torch.bfloat16 if cpu_has_fast_bf16() else None
    return torch.bfloat16


_BF16_RNNS: dict[str, bool] = {}  # the probe's answer, once per process


def cpu_runs_bf16_rnns() -> bool:
    """Whether this CPU's oneDNN runs an LSTM under bfloat16 autocast. CPUs without AVX512 (and so
    without AMX) cannot: the layer fails with "could not create a primitive descriptor". Probed
    once with a 1-step LSTM of width 3."""
    if "cpu" not in _BF16_RNNS:
        lstm = torch.nn.LSTM(3, 3, batch_first=True)
        try:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                lstm(torch.zeros(1, 1, 3))
            _BF16_RNNS["cpu"] = True
        except RuntimeError:
            _BF16_RNNS["cpu"] = False
    return _BF16_RNNS["cpu"]


def check_rnn_precision(setting: str, device: torch.device, *, has_rnn: bool = True) -> None:
    """Refuse bf16 autocast for a model with recurrent layers on a CPU that cannot run them in
    bf16 (:func:`cpu_runs_bf16_rnns`), before any work, instead of a oneDNN error mid-step. A
    model without them (``has_rnn`` False: transformers only) runs bf16 on any CPU.

    Raises:
        ConfigError: ``train.amp=bf16: this CPU cannot run LSTM or GRU layers in bfloat16 ...``.
    """
    if has_rnn and device.type == "cpu" and autocast_dtype(setting, device) == torch.bfloat16 \
            and not cpu_runs_bf16_rnns():
        raise ConfigError(f"train.amp={setting}: this CPU cannot run LSTM or GRU layers in "
                          "bfloat16 (oneDNN needs AVX512 or AMX units for them); use "
                          "train.amp=off or auto")


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether the GPU computes in bfloat16 natively. ``torch.cuda.is_bf16_supported()`` alone
    also counts emulation, and answers yes on pre-Ampere GPUs where bf16 is slow."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch before 2.4 has no including_emulation and no emulation either
        return torch.cuda.get_device_capability(device)[0] >= 8


def precision_note(setting: str, device: torch.device, dtype: torch.dtype | None) -> str:
    """One line saying which precision training runs in, and why."""
    chosen = {None: "float32", torch.bfloat16: "bf16 autocast",
              torch.float16: "fp16 autocast with loss scaling"}[dtype]
    if setting != "auto":
        return f"precision: {chosen} (train.amp={setting})"
    if device.type == "cuda":
        why = "the GPU has native bf16" if dtype == torch.bfloat16 else "the GPU has no native bf16"
    else:
        why = ("this CPU has AMX or AVX512-BF16 units" if dtype == torch.bfloat16
               else "this CPU has no bf16 matrix units")
    return f"precision: {chosen} (train.amp=auto: {why}; --set train.amp=off for float32)"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix units (AMX tiles or AVX512-BF16), which make CPU bf16
    training faster than float32; without them oneDNN emulates bf16 and it is slower."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device``, or nothing when ``dtype`` is None (float32)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset``
    narrow), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def busy_cores(interval: float = 0.25) -> float | None:
    """How many cores other work keeps busy right now: the non-idle share of all CPU time over
    ``interval`` seconds (Linux ``/proc/stat``), times the machine's cores. None where that cannot
    be read. Measured, not the load average, which lags a minute behind a finished job."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def choose_threads(setting: int | None, *, cores: int | None = None,
                   busy: float | None = None) -> tuple[int, str]:
    """The CPU thread count to compute with, and a line saying why.

    ``setting`` (``train.threads``) wins; then ``OMP_NUM_THREADS``; else one thread per usable
    core that other work leaves free (at least one). On a 2-core machine shared with one
    CPU-bound job, two OpenMP threads spin-wait on each other while the job takes their core:
    the quickstart ran 558 steps in its 4.75 minutes that way, against 9,000 with one thread.
    """
    default = torch.get_num_threads()
    if setting is not None:
        return setting, f"threads: {setting} (train.threads)"
    if os.environ.get("OMP_NUM_THREADS"):
        return default, f"threads: {default} (OMP_NUM_THREADS)"
    cores = usable_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    if busy is None:
        return default, f"threads: {default}"
    free = max(1, cores - round(busy))  # never more threads than torch would use anyway
    if free >= default:
        return default, f"threads: {default} ({cores} cores, free)"
    return free, (f"threads: {free} of {cores} cores (other processes keep about {busy:.1f} busy; "
                  "--set train.threads=N to choose)")
