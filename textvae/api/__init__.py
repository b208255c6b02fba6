"""The model API: load a checkpoint, then encode, decode, sample, reconstruct, interpolate.

    import textvae
    tv = textvae.load("runs/quickstart")             # a run directory (its best) or a checkpoint
    mu, logvar = tv.encode(["the dog barked ."])     # (S, Z) each
    tv.decode(mu)                                    # greedy by default
    tv.sample(5, prior="aggregate", seed=0)
    tv.interpolate("the dog barked .", "the cats ran .", steps=8)

Every method takes and returns sentences (strings), in batches. Decoding options (``method``,
``max_len``, ``temperature``, ``top_k``, ``top_p``, ``beam_size``, ``length_normalization``)
are those of :meth:`TextVAE.decode` and mean what they mean in :mod:`textvae.generate`.

The package: :mod:`.model` (the :class:`TextVAE` façade), :mod:`.generation` (its generation
methods), :mod:`.prior` (the aggregate prior, a diagonal Gaussian mixture) and :func:`load`.
"""

from __future__ import annotations

import os

import torch

from textvae.api.model import CHUNK, MAX_ENCODE_TOKENS, TextVAE
from textvae.api.prior import AGGREGATE_PRIOR_FILE, PRIORS, DiagonalGMM, fit_diagonal_gmm
from textvae.checkpoint import load_checkpoint, load_weights
from textvae.device import resolve_device
from textvae.errors import CheckpointError, InputError, NoLatentSpaceError
from textvae.generate import DEFAULT_MAX_LEN
from textvae.models.sentence_vae import build_model

__all__ = [
    "AGGREGATE_PRIOR_FILE",
    "CHUNK",
    "DEFAULT_MAX_LEN",
    "MAX_ENCODE_TOKENS",
    "PRIORS",
    "DiagonalGMM",
    "InputError",
    "NoLatentSpaceError",
    "TextVAE",
    "fit_diagonal_gmm",
    "load",
]


def load(checkpoint_dir: str | os.PathLike[str], device: str | torch.device = "auto") -> TextVAE:
    """Load a trained model for generation.

    Args:
        checkpoint_dir: a checkpoint directory, or a run directory (then its ``best`` checkpoint
            if there is one, else ``last``).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
            a ``torch.device``.

    Returns:
        A :class:`TextVAE` with the model in eval mode on ``device``.

    Raises:
        CheckpointError: the directory is missing, incomplete or does not match its config.
        ConfigError: an unknown or unavailable device.
    """
    if not os.path.exists(checkpoint_dir):
        raise CheckpointError(
            f"checkpoint not found: {checkpoint_dir} (train one first, e.g. "
            "`textvae train --config configs/quickstart.yaml`, or pass --checkpoint)"
        )
    resolved = resolve_device(device)
    ckpt = load_checkpoint(checkpoint_dir)
    tokenizer = ckpt.tokenizer
    model = build_model(ckpt.config.model, tokenizer.vocab_size, tokenizer.pad_id)
    load_weights(model, ckpt)
    # The resolved directory: if training moves `best` on later, the fitted aggregate prior
    # still lands beside the weights it was fitted to.
    return TextVAE(model, tokenizer, ckpt.config, device=resolved, path=ckpt.path.resolve())
