"""textvae: variational autoencoders over text, with image VAEs for parity.

The public names are here, imported on first use so that ``import textvae`` stays light (no
torch until a model is needed): ``textvae.load``, ``textvae.from_pretrained`` and
``textvae.TextVAE`` (:mod:`textvae.text.api`), ``textvae.load_config``
(:mod:`textvae.text.run.config`) and ``textvae.train`` (:mod:`textvae.text.training.train`).

The package's folders are its architecture (docs/architecture.md): ``core/`` is shared, ``text/``
and ``image/`` are the two sides, ``cli/`` is the ``textvae`` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from textvae.core.version import __version__

__all__ = ["TextVAE", "__version__", "from_pretrained", "load", "load_config", "train"]

if TYPE_CHECKING:
    from textvae.text.api import TextVAE, from_pretrained, load
    from textvae.text.run.config import load_config
    from textvae.text.training.train import train

# Each public name and the module it is defined in.
_LAZY = {
    "TextVAE": "textvae.text.api",
    "from_pretrained": "textvae.text.api",
    "load": "textvae.text.api",
    "load_config": "textvae.text.run.config",
    "train": "textvae.text.training.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'textvae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
