"""textvae: variational autoencoders over text, with image VAEs for parity.

``textvae.load``, ``textvae.from_pretrained`` and ``textvae.TextVAE`` (from :mod:`textvae.api`)
are imported on first use, so ``import textvae`` stays light (no torch until a model is needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textvae.version import __version__

__all__ = ["TextVAE", "__version__", "from_pretrained", "load"]

if TYPE_CHECKING:
    from textvae.api import TextVAE, from_pretrained, load

_LAZY = {"TextVAE", "from_pretrained", "load"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from textvae import api

        return getattr(api, name)
    raise AttributeError(f"module 'textvae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
