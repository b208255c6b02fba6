"""``--device``: checked once, for every command that has the flag, before the command runs, so
that a device this machine lacks is refused in the words the user typed (``--device cuda: CUDA
is not available here; use auto or cpu``), not as the config key the flag overrides. A device
set in a config (``--set train.device=cuda``) is checked where it is used and named
``train.device``."""

from __future__ import annotations

import argparse

# Always usable, and checked without importing torch.
_ALWAYS = ("auto", "cpu")


def check_device_flag(args: argparse.Namespace) -> None:
    """Resolve ``--device`` if the command has it and it was given.

    Raises:
        ConfigError: ``--device cuda: CUDA is not available here; use auto or cpu`` (or an
            unknown name, or ``cuda:N`` past this machine's devices).
    """
    device = getattr(args, "device", None)
    if device is None or device in _ALWAYS:
        return
    from textvae.core.device import resolve_device  # torch: only when a device is named

    resolve_device(device, source="--device")
