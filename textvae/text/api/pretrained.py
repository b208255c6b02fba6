"""Models people can share: :class:`Sharing`, the :class:`~textvae.text.api.model.TextVAE` methods
that write one self-contained folder (:meth:`~Sharing.save_pretrained`) and push it to the
Hugging Face Hub (:meth:`~Sharing.push_to_hub`). :func:`textvae.from_pretrained` reads it back.

The folder is a checkpoint directory (the one layout, :func:`textvae.core.checkpoint.write_checkpoint_files`)
plus what makes it usable anywhere::

    config.yaml, meta.json, model.safetensors, tokenizer/   textvae.load(dir) and every `-c` read it
    aggregate_prior.safetensors                            the fitted aggregate prior (VAEs)
    README.md                                              the model card (text/api/card.py)

It holds no ``trainer.pt``: it is for using the model, not for resuming its training.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from textvae.core.checkpoint import write_checkpoint_files
from textvae.core.errors import DataError, FileWriteError, InputError, TextVAEError
from textvae.core.files import fsync_dir, write_text
from textvae.core.version import __version__
from textvae.text.api.card import model_card
from textvae.text.api.hub import upload
from textvae.text.api.prior import AGGREGATE_PRIOR_FILE, DiagonalGMM, save_prior_file
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.models.sentence_vae import SentenceVAE
from textvae.text.run.config import Config

# meta.json keys that describe the file format, written afresh by write_checkpoint_files
_FORMAT_KEYS = ("format", "format_version", "kind")


def check_new_folder(directory: str | os.PathLike[str]) -> Path:
    """Refuse a folder that exists and is not empty (or is a file), before any work.

    Raises:
        InputError: naming the folder and what to do.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(
            f"{directory} already exists and is not an empty folder; choose a new folder to "
            "save the model in"
        )
    return directory


class Sharing:
    """Saving and pushing a :class:`~textvae.text.api.model.TextVAE` (a mixin).

    What it needs from its host is declared here: the attributes as class annotations, the
    host's properties and methods as signatures under ``TYPE_CHECKING``, so that mypy checks
    every use below and checks the façade against them, while at run time they do not exist and
    cannot shadow the façade's (or a sibling mixin's) own in the method resolution order.
    """

    model: SentenceVAE
    tokenizer: Tokenizer
    config: Config
    meta: dict[str, Any]  # the checkpoint's meta.json

    if TYPE_CHECKING:
        @property
        def model_type(self) -> str: ...
        @property
        def latent_dim(self) -> int | None: ...
        # from the sibling mixin AggregatePriorMethods
        def aggregate_prior(self, *, log: Callable[[str], None] = ...) -> DiagonalGMM: ...

    def save_pretrained(self, directory: str | os.PathLike[str], *, repo_id: str | None = None,
                        log: Callable[[str], None] = lambda _: None) -> Path:
        """Write the model as one self-contained folder that loads anywhere, with nothing else:
        ``textvae.from_pretrained(dir)``, ``textvae.load(dir)`` and every ``textvae`` command's
        ``-c dir`` read it, and none of them needs the training data.

        The aggregate prior is fitted here if it is not yet (a VAE only): the one already in
        memory or in the checkpoint, else a fit from the training data (which is then also
        saved in the source checkpoint). That is when the data is most likely at hand, and it
        spares every user of the folder the fit. When the data cannot be read, the folder is
        written without the prior, a warning says so, and so does the model card.

        The folder is written whole or not at all: into a temporary folder beside it, flushed,
        then renamed into place.

        Args:
            directory: the folder to create (it may exist if it is empty).
            repo_id: the Hub name the model card's loading example uses (default: the folder).
            log: told about an aggregate-prior fit (up to minutes) before and after it.

        Returns:
            The folder.

        Raises:
            InputError: ``directory`` exists and is not empty.
            FileWriteError: the folder could not be written (nothing is left behind).
        """
        target = check_new_folder(directory)
        prior, prior_note = self._prior_to_share(target, log)
        meta = {k: v for k, v in self.meta.items() if k not in _FORMAT_KEYS}
        meta.setdefault("textvae_version", __version__)
        meta.update(model_type=self.model_type, vocab_size=self.tokenizer.vocab_size,
                    aggregate_prior=prior is not None)
        card = model_card(
            self.config, meta, vocab_size=self.tokenizer.vocab_size, latent_dim=self.latent_dim,
            name=repo_id or str(target), title=repo_id or target.name, prior_note=prior_note,
            prior_components=None if prior is None else int(prior.weights.shape[0]),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            write_checkpoint_files(tmp, config=self.config, tokenizer=self.tokenizer,
                                   model_state=self._state_to_share(), trainer_state=None,
                                   meta=meta)
            if prior is not None:
                save_prior_file(prior.to("cpu"), tmp / AGGREGATE_PRIOR_FILE)
            write_text(tmp / "README.md", card)
            fsync_dir(tmp)
            os.rename(tmp, target)  # onto an empty folder too (POSIX)
            fsync_dir(target.parent)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            # a file's error names the temporary folder, gone now: name the target instead
            if isinstance(err, OSError) and (err.strerror or not isinstance(err, TextVAEError)):
                raise FileWriteError(f"cannot write {target}: {err.strerror or err}") from None
            raise
        return target

    def _state_to_share(self) -> dict[str, Tensor]:
        """The weights the folder holds (a labelled model adds its label parts)."""
        return self.model.state_dict()

    def _prior_to_share(
        self, target: Path, log: Callable[[str], None]
    ) -> tuple[DiagonalGMM | None, str | None]:
        """The aggregate prior to store, or None and why not (for the card)."""
        if self.latent_dim is None:
            return None, None
        try:
            return self.aggregate_prior(log=log), None
        except DataError as err:
            warnings.warn(f"saving {target} without an aggregate prior: {err}", stacklevel=3)
            return None, "the training data could not be read to fit one when the folder was saved"

    def push_to_hub(self, repo_id: str, *, private: bool | None = None, token: str | None = None,
                    commit_message: str | None = None) -> str:
        """Save the model (:meth:`save_pretrained`, into a temporary folder) and upload it to the
        Hugging Face Hub as one commit, creating the repo if needed.

        Args:
            repo_id: ``owner/name`` (or ``name`` under your own account).
            private: make a new repo private (None: the Hub's default).
            token: a Hub token with write access (default: the saved login).
            commit_message: default ``"Upload textvae model"``.

        Returns:
            The commit's URL.

        Raises:
            CheckpointError: the Hub refused the upload or cannot be reached.
            TextVAEError: ``huggingface_hub`` is not installed.
        """
        with tempfile.TemporaryDirectory(prefix="textvae-push-") as tmp:
            folder = self.save_pretrained(Path(tmp) / "model", repo_id=repo_id)
            return upload(folder, repo_id, private=private, token=token,
                          commit_message=commit_message)
