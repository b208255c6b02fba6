"""The :class:`~textvae.text.api.model.TextVAE` methods of the aggregate prior: read it from the
checkpoint, or fit it to the training sentences' posterior means and save it there (the mixture
itself and its file are :mod:`textvae.text.api.prior`'s)."""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from textvae.core.errors import ConfigError, DataError, FileWriteError, InputError
from textvae.text.api.prior import (
    AGGREGATE_PRIOR_FILE,
    PRIORS,
    DiagonalGMM,
    find_prior_file,
    fit_diagonal_gmm,
    read_prior_file,
    save_prior_file,
)
from textvae.text.data.sources import apply_max_len
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.models.sentence_vae import SentenceVAE
from textvae.text.run.config import Config
from textvae.text.run.corpus import load_sentences


class AggregatePriorMethods:
    """The aggregate-prior methods of the :class:`~textvae.text.api.model.TextVAE` façade (a mixin).

    What it needs from its host is declared here: the attributes as class annotations (the
    host's ``__init__`` sets them, the ``_aggregate_prior`` cache to None), the host's methods
    as signatures under ``TYPE_CHECKING``, so that mypy checks every use below and checks the
    façade against them, while at run time they do not exist and cannot shadow the façade's.
    """

    model: SentenceVAE
    tokenizer: Tokenizer
    config: Config
    device: torch.device
    path: Path | None  # the checkpoint directory the fitted prior is saved in; None in memory
    _aggregate_prior: DiagonalGMM | None  # the cache: read, or fitted, once

    if TYPE_CHECKING:
        def _require_latent(self, what: str) -> None: ...
        def encode_ids(self, ids: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]: ...

    def aggregate_prior(self, *, log: Callable[[str], None] = lambda _: None) -> DiagonalGMM:
        """The aggregate prior: cached, else read from the checkpoint's
        ``aggregate_prior.safetensors`` (or a legacy ``.pt``), else fitted (a fit, up to
        minutes, reports to ``log`` before and after; the CLI passes a stderr printer).

        A fit (see :meth:`fit_aggregate_prior`) reads the training data and is saved in the
        checkpoint directory, so it is made once per checkpoint. Training does not fit it: on
        the quickstart a fit (20,000 sentences encoded, then EM) took 45-57 s on 2 shared CPU
        cores, a sixth of the 4.75-minute run, for a prior most runs never sample from.
        :meth:`save_pretrained` fits it instead, so a shared folder never needs the data.

        Raises:
            CheckpointError: the saved file is unreadable or does not fit this model.
            DataError: there is no saved prior and the training data cannot be read to fit one.
            NoLatentSpaceError: for the LM baseline.
        """
        self._require_latent("the aggregate prior")
        if self._aggregate_prior is not None:
            return self._aggregate_prior
        file = None if self.path is None else find_prior_file(self.path)
        if file is not None:
            self._aggregate_prior = read_prior_file(file, self.model.latent_dim).to(self.device)
            return self._aggregate_prior
        try:
            return self.fit_aggregate_prior(log=log)
        except (DataError, ConfigError) as err:
            where = self.path if self.path is not None else "this model"
            raise DataError(
                f"{where} holds no fitted aggregate prior ({AGGREGATE_PRIOR_FILE}) and its training "
                f"data cannot be read to fit one ({err}); run `textvae fit-prior -c CHECKPOINT` "
                "where the data is, or sample from the standard prior (--prior standard)"
            ) from None

    def fit_aggregate_prior(
        self,
        n_components: int = 10,
        *,
        max_sentences: int = 20000,
        seed: int = 0,
        save: bool = True,
        log: Callable[[str], None] = lambda _: None,
    ) -> DiagonalGMM:
        """Fit the aggregate prior to the posterior means of the training sentences.

        Reads the training split named by the checkpoint's config (``data`` section), applies
        the training length filter (``data.max_len``), takes a seeded random subset of at most
        ``max_sentences``, encodes them and fits a diagonal Gaussian mixture
        (:func:`fit_diagonal_gmm`). With ``save`` and a checkpoint path, the mixture is written
        atomically (temporary file, then ``os.replace``) to ``aggregate_prior.safetensors`` there,
        replacing any earlier fit; if the directory is not writable the fit is kept in memory
        and a warning says so.

        Args:
            n_components: mixture components.
            max_sentences: most training sentences to encode.
            seed: seeds the subset and the mixture initialisation.
            save: write the file.
            log: told before the fit (up to minutes) and after it, with its time; silent by default.

        Returns:
            The mixture (also cached on this object).

        Raises:
            DataError: the training data cannot be read (e.g. a copied checkpoint).
        """
        self._require_latent("the aggregate prior")
        data = self.config.data
        sentences = load_sentences(data, "train").sentences
        if len(sentences) > max_sentences:
            sentences = random.Random(seed).sample(sentences, max_sentences)
        ids = [self.tokenizer.encode(s) for s in sentences]
        if data.max_len is not None:
            ids, _ = apply_max_len(ids, data.max_len, data.long_sentences)
        ids = [row for row in ids if row]
        if len(ids) < n_components:
            raise InputError(
                f"cannot fit a {n_components}-component prior to {len(ids)} training sentences"
            )
        folder = self.path if save else None  # where the fit is saved, if anywhere
        log(f"fitting the aggregate prior to {len(ids):,} training sentences "
            f"({f'once; saved in {folder}' if folder is not None else 'kept in memory only'})...")
        start = time.monotonic()
        mu, _ = self.encode_ids(ids)  # (N, Z)
        prior = fit_diagonal_gmm(mu, n_components, seed=seed)
        if folder is not None:
            _save_prior(prior, folder)
        log(f"fitted the aggregate prior in {time.monotonic() - start:.1f} s")
        self._aggregate_prior = prior.to(self.device)
        return self._aggregate_prior

    def _prior_latents(self, n: int, prior: str, generator: torch.Generator | None) -> Tensor:
        if prior not in PRIORS:
            raise InputError(f"unknown prior {prior!r}; valid: {list(PRIORS)}")
        if prior == "standard":
            return torch.randn(n, self.model.latent_dim, generator=generator, device=self.device)
        return self.aggregate_prior().sample(n, generator=generator)


def _save_prior(prior: DiagonalGMM, folder: Path) -> None:
    """Save a fit in the checkpoint directory; a directory that is not writable keeps it in
    memory only, with a warning."""
    try:
        save_prior_file(prior, folder / AGGREGATE_PRIOR_FILE)
    except FileWriteError as err:
        warnings.warn(f"could not save the aggregate prior ({err}); it is kept in memory only",
                      stacklevel=3)
