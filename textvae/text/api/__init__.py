"""The model API: load a checkpoint, then encode, decode, sample, reconstruct, interpolate.

    import textvae
    tv = textvae.load("runs/quickstart")             # a run directory (its best) or a checkpoint
    mu, logvar = tv.encode(["the dog barked ."])     # (S, Z) each
    tv.decode(mu)                                    # greedy by default
    tv.sample(5, prior="aggregate", seed=0)
    tv.interpolate("the dog barked .", "the cats ran .", steps=8)
    tv.save_pretrained("my-model")                   # one folder to share (docs/sharing.md)
    cv = textvae.load("runs/grammar_cvae")           # a labelled run: a LabelledTextVAE
    cv.sample(3, label={"tense": "past"}); cv.transfer(["the cat sleeps ."], "tense=past")
    textvae.from_pretrained("my-model")              # or a Hugging Face Hub repo id

Every method takes and returns sentences (strings), in batches. Decoding options (``method``,
``max_len``, ``temperature``, ``top_k``, ``top_p``, ``beam_size``, ``length_normalization``)
are those of :meth:`TextVAE.decode` and mean what they mean in :mod:`textvae.text.generate`.

The package: :mod:`.model` (the :class:`TextVAE` façade), :mod:`.generation` (its generation
methods), :mod:`.prior` (the aggregate prior, a diagonal Gaussian mixture), :mod:`.pretrained`
(saving a shareable folder, pushing it to the Hub), :mod:`.card` (its model card), :mod:`.hub`
(the Hugging Face Hub), and :func:`load` and :func:`from_pretrained`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from textvae.core.checkpoint import Checkpoint, check_checkpoint_exists, load_weights
from textvae.core.device import resolve_device
from textvae.core.errors import CheckpointError, InputError, NoLatentSpaceError
from textvae.core.label_sets import LabelSet
from textvae.text.api.hub import download
from textvae.text.api.labelled import LabelledTextVAE
from textvae.text.api.model import CHUNK, MAX_ENCODE_TOKENS, TextVAE
from textvae.text.api.prior import AGGREGATE_PRIOR_FILE, PRIORS, DiagonalGMM, fit_diagonal_gmm
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.generate import DEFAULT_MAX_LEN
from textvae.text.models.labelled import build_labelled_model
from textvae.text.models.sentence_vae import build_model
from textvae.text.run.checkpoint import load_checkpoint

__all__ = [
    "AGGREGATE_PRIOR_FILE",
    "CHUNK",
    "DEFAULT_MAX_LEN",
    "MAX_ENCODE_TOKENS",
    "PRIORS",
    "DiagonalGMM",
    "InputError",
    "LabelledTextVAE",
    "NoLatentSpaceError",
    "TextVAE",
    "fit_diagonal_gmm",
    "from_pretrained",
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
        CheckpointError: the directory is missing (or a symbolic link loop), incomplete, or does
            not match its config.
        ConfigError: an unknown or unavailable device.
    """
    check_checkpoint_exists(checkpoint_dir, hint=" (train one first, e.g. `textvae train --config "
                            "quickstart`, or name another run or checkpoint)")
    resolved = resolve_device(device, source="device")
    ckpt = load_checkpoint(Path(checkpoint_dir))
    tokenizer = ckpt.tokenizer
    if tokenizer is None:  # load_checkpoint reads one for every text checkpoint
        raise CheckpointError(f"{ckpt.path} has no tokenizer, so its model cannot read or write text")
    if ckpt.config.labels.factors:  # a conditional VAE or M2 (docs/labels.md)
        return _load_labelled(ckpt, tokenizer, resolved)
    model = build_model(ckpt.config.model, tokenizer.vocab_size, tokenizer.pad_id)
    load_weights(model, ckpt)
    # The resolved directory: if training moves `best` on later, the fitted aggregate prior
    # still lands beside the weights it was fitted to.
    return TextVAE(model, tokenizer, ckpt.config, device=resolved, path=ckpt.path.resolve(),
                   meta=ckpt.meta)


def _load_labelled(ckpt: Checkpoint, tokenizer: Tokenizer, device: torch.device) -> LabelledTextVAE:
    if "labels" not in ckpt.meta:
        raise CheckpointError(f"{ckpt.path}: a labelled run's checkpoint has no label set in meta.json")
    label_set = LabelSet.from_dict(ckpt.meta["labels"])
    cfg = ckpt.config
    model = build_labelled_model(cfg.model, tokenizer.vocab_size, tokenizer.pad_id, label_set.sizes,
                                 label_embed_dim=cfg.labels.embed_dim,
                                 with_classifier=cfg.labels.mode != "conditional", classifier=cfg.labels.classifier)
    load_weights(model, ckpt)
    return LabelledTextVAE(model, tokenizer, cfg, label_set, device=device, path=ckpt.path.resolve(),
                           meta=ckpt.meta)


def from_pretrained(
    name_or_path: str | os.PathLike[str],
    device: str | torch.device = "auto",
    revision: str | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
) -> TextVAE:
    """Load a shared model: a local folder, or a Hugging Face Hub repo.

    A path that exists is loaded directly, like :func:`load` (a folder written by
    :meth:`TextVAE.save_pretrained`, or any checkpoint or run directory). Anything else is a
    Hub repo id (``owner/name``), fetched with ``huggingface_hub.snapshot_download`` into the
    Hub's local cache, or found there: ``HF_HUB_OFFLINE=1`` uses the cache only, and a cached
    copy is used when the Hub cannot be reached. The folder holds the fitted aggregate prior,
    so nothing is fitted and no training data is read.

    Args:
        name_or_path: a local folder, or a Hub repo id.
        device: as for :func:`load`.
        revision: for a repo id: a branch, tag or commit (default: main).
        cache_dir: for a repo id: the cache to use instead of the Hub's default.
        token: for a private repo: a Hub token (default: the saved login).

    Returns:
        A :class:`TextVAE` in eval mode on ``device``.

    Raises:
        CheckpointError: no such folder or repo, the Hub unreachable (or offline) with no
            cached copy, or the folder is not a textvae model; one line saying which.
    """
    if os.path.lexists(name_or_path):  # a link that leads nowhere is a path too, not a repo id
        return load(name_or_path, device=device)
    folder = download(str(name_or_path), revision=revision, cache_dir=cache_dir, token=token)
    return load(folder, device=device)
