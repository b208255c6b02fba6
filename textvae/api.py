"""The model API: load a checkpoint, then encode, decode, sample, reconstruct, interpolate.

    import textvae
    tv = textvae.load("runs/quickstart")             # a run directory (its best) or a checkpoint
    mu, logvar = tv.encode(["the dog barked ."])     # (S, Z) each
    tv.decode(mu)                                    # greedy by default
    tv.sample(5, prior="aggregate", seed=0)
    tv.interpolate("the dog barked .", "the cats ran .", steps=8)

Every method takes and returns sentences (strings), in batches: inputs of any size are processed
in chunks of :data:`CHUNK` rows. Decoding options (``method``, ``max_len``, ``temperature``,
``top_k``, ``top_p``, ``beam_size``, ``length_normalization``) are those of
:meth:`TextVAE.decode` and mean what they mean in :mod:`textvae.generate`. Methods that draw
random numbers take a ``seed``; one seeded ``torch.Generator`` on the model's device then drives
everything random in the call (prior draws, posterior samples, token sampling), so a seed
reproduces the output. ``seed=None`` uses torch's global generator.

Methods that generate from latent codes accept ``return_latents=True`` and then return
``(texts, z)``, the z they decoded (for JSON Lines output).

The aggregate prior (Ghosh et al. 2020, "From Variational to Deterministic Autoencoders",
ex-post density estimation): a VAE's decoder only ever saw codes from the aggregate posterior
q(z) = E_x q(z|x), which for a trained sentence VAE is not N(0, I) (inactive dimensions
collapse, active ones drift). Sampling from a density fitted to the posterior means of the
training set decodes into more typical sentences. The fit is a diagonal Gaussian mixture, made
once per checkpoint and stored beside its weights as ``aggregate_prior.pt``.

Shape legend: S = sentences, Z = latent size, C = mixture components, N = fitted points.
"""

from __future__ import annotations

import math
import os
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textvae.checkpoint import load_checkpoint
from textvae.config import Config
from textvae.data.batching import collate
from textvae.data.tokenizers import Tokenizer
from textvae.errors import CheckpointError, TextVAEError
from textvae.generate import (
    DecodingError,
    beam_search,
    check_decoding_options,
    greedy_decode,
    interpolation_path,
    sample_decode,
)
from textvae.models.sentence_vae import SentenceVAE, build_model

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

AGGREGATE_PRIOR_FILE = "aggregate_prior.pt"
CHUNK = 256  # sentences (or latent rows) per model call
DEFAULT_MAX_LEN = 64  # generated tokens, end token included
PRIORS = ("standard", "aggregate")
RECONSTRUCTION_SOURCES = ("mean", "sample")


MAX_ENCODE_TOKENS = 4096
"""The longest sentence, in tokens, that :meth:`TextVAE.encode` accepts. Sentence VAEs are
trained on sentences of tens of tokens; a far longer line is almost always a whole document
or a file without line breaks, and encoding it would only burn time and memory."""


def _preview(sentence: str, width: int = 60) -> str:
    """The sentence's repr, cut short so that an error message stays one readable line."""
    text = repr(sentence)
    return text if len(text) <= width else f"{text[: width - 5]}...{text[-1]} ({len(sentence):,} characters)"


class InputError(TextVAEError, ValueError):
    """An input sentence or argument cannot be used (empty, all-unknown, wrong count, ...)."""


class NoLatentSpaceError(TextVAEError):
    """A latent-space operation was asked of the LM baseline, which has no latent space."""


# ---------------------------------------------------------------------------------------------
# Diagonal Gaussian mixture (the aggregate prior)
# ---------------------------------------------------------------------------------------------


@dataclass
class DiagonalGMM:
    """A mixture of C Gaussians with diagonal covariances over R^Z.

    Attributes:
        weights: (C,) mixing weights, summing to 1.
        means: (C, Z).
        variances: (C, Z), all > 0.
    """

    weights: Tensor
    means: Tensor
    variances: Tensor

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` points: a component by weight, then a Gaussian draw from it. Returns (n, Z)."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        noise = torch.randn(
            n, self.means.shape[1], generator=generator,
            dtype=self.means.dtype, device=self.means.device,
        )  # (n, Z)
        return self.means[component] + self.variances[component].sqrt() * noise

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density of each row of ``x`` (N, Z). Returns (N,)."""
        return _component_log_joint(x, self.weights, self.means, self.variances).logsumexp(dim=1)

    def to(self, device: torch.device | str) -> DiagonalGMM:
        return DiagonalGMM(self.weights.to(device), self.means.to(device), self.variances.to(device))

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors, for ``torch.save`` (read back with ``weights_only=True``)."""
        return {"weights": self.weights, "means": self.means, "variances": self.variances}

    @classmethod
    def from_state_dict(cls, state: Any, *, latent_dim: int | None = None) -> DiagonalGMM:
        """Rebuild from :meth:`state_dict`; checks the shapes (and Z, if given).

        Raises:
            ValueError: missing entries or inconsistent shapes.
        """
        if not isinstance(state, dict) or not {"weights", "means", "variances"} <= state.keys():
            raise ValueError("expected a dict with weights, means and variances")
        weights, means, variances = state["weights"], state["means"], state["variances"]
        if not all(isinstance(t, Tensor) for t in (weights, means, variances)):
            raise ValueError("weights, means and variances must be tensors")
        if (
            weights.dim() != 1
            or means.dim() != 2
            or means.shape[0] != weights.shape[0]
            or variances.shape != means.shape
        ):
            raise ValueError(
                f"inconsistent shapes: weights {tuple(weights.shape)}, means "
                f"{tuple(means.shape)}, variances {tuple(variances.shape)}"
            )
        if latent_dim is not None and means.shape[1] != latent_dim:
            raise ValueError(f"the mixture is over {means.shape[1]} dimensions, the model has {latent_dim}")
        return cls(weights.float(), means.float(), variances.float())


def _component_log_joint(x: Tensor, weights: Tensor, means: Tensor, variances: Tensor) -> Tensor:
    """log(w_c) + log N(x_n | mean_c, diag(var_c)) for every point and component: (N, C)."""
    precision = 1.0 / variances  # (C, Z)
    # sum_z (x - m)^2 / v, expanded so the (N, C, Z) difference tensor is never built.
    mahalanobis = (
        (x * x) @ precision.T - 2.0 * x @ (means * precision).T + (means * means * precision).sum(1)
    )  # (N, C)
    log_det = variances.log().sum(dim=1)  # (C,)
    log_gauss = -0.5 * (x.shape[1] * math.log(2 * math.pi) + log_det + mahalanobis)  # (N, C)
    return log_gauss + weights.log()


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator, lloyd_steps: int = 10) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) and a few Lloyd steps: (k, Z) centres."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    dist2 = ((x - x[first]) ** 2).sum(1)  # (N,) to the nearest centre so far
    for _ in range(1, k):
        total = dist2.sum()
        probs = dist2 / total if total > 0 else torch.full_like(dist2, 1.0 / n)
        pick = int(torch.multinomial(probs, 1, generator=generator))
        centres.append(x[pick])
        dist2 = torch.minimum(dist2, ((x - x[pick]) ** 2).sum(1))
    centres_t = torch.stack(centres)  # (C, Z)
    for _ in range(lloyd_steps):
        assign = torch.cdist(x, centres_t).argmin(dim=1)  # (N,)
        for c in range(k):
            members = x[assign == c]
            if len(members):
                centres_t[c] = members.mean(0)
    return centres_t


def fit_diagonal_gmm(
    x: Tensor,
    n_components: int = 10,
    *,
    seed: int = 0,
    max_iter: int = 200,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
) -> DiagonalGMM:
    """Fit a diagonal-covariance Gaussian mixture by EM (Dempster et al. 1977).

    k-means++ seeding then hard k-means assignments initialise the responsibilities; EM then
    runs until the mean log-likelihood per point improves by less than ``tol`` (or for
    ``max_iter`` iterations). ``reg_covar`` is added to every variance, so a dimension that is
    constant over the data (an inactive latent unit) keeps a tiny positive variance. The fit
    runs in float64 on the CPU and is deterministic for a given ``seed``.

    Args:
        x: (N, Z) points, N >= ``n_components``.
        n_components: C >= 1.
        seed: seeds the k-means++ initialisation.
        max_iter: most EM iterations.
        tol: convergence threshold on the mean log-likelihood (nats per point).
        reg_covar: variance floor added in every M step.

    Returns:
        The mixture, as float32 tensors on the CPU.

    Raises:
        ValueError: too few points, or a bad ``n_components``.
    """
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if x.dim() != 2 or x.shape[0] < n_components:
        raise ValueError(
            f"need at least n_components={n_components} points of shape (N, Z), got {tuple(x.shape)}"
        )
    x = x.detach().to("cpu", torch.float64)
    generator = torch.Generator().manual_seed(seed)
    centres = _kmeans_plus_plus(x, n_components, generator)  # (C, Z)
    resp = torch.nn.functional.one_hot(
        torch.cdist(x, centres).argmin(dim=1), n_components
    ).double()  # (N, C)
    previous = -math.inf
    for _ in range(max_iter):
        # M step: the weighted moments of each component (tiny count floor for empty ones).
        counts = resp.sum(0) + 10 * torch.finfo(torch.float64).eps  # (C,)
        weights = counts / counts.sum()
        means = resp.T @ x / counts.unsqueeze(1)  # (C, Z)
        variances = (resp.T @ (x * x) / counts.unsqueeze(1) - means * means).clamp(min=0) + reg_covar
        # E step: responsibilities under the new parameters.
        joint = _component_log_joint(x, weights, means, variances)  # (N, C)
        log_norm = joint.logsumexp(dim=1, keepdim=True)  # (N, 1)
        resp = (joint - log_norm).exp()
        mean_loglik = float(log_norm.mean())
        if mean_loglik - previous < tol:
            break
        previous = mean_loglik
    return DiagonalGMM(weights.float(), means.float(), variances.float())


# ---------------------------------------------------------------------------------------------
# The model wrapper
# ---------------------------------------------------------------------------------------------


class TextVAE:
    """A trained sentence VAE (or LM baseline) with its tokenizer, ready to generate.

    Build it with :func:`load`. The model is kept in eval mode on ``device``.

    Attributes:
        model: the :class:`SentenceVAE`.
        tokenizer: its tokenizer.
        config: the run config it was trained with.
        device: where the model lives.
        path: the checkpoint directory, or None for a model built in memory.
    """

    def __init__(
        self,
        model: SentenceVAE,
        tokenizer: Tokenizer,
        config: Config,
        *,
        device: torch.device | str = "cpu",
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.config = config
        self.path = None if path is None else Path(path)
        self._aggregate_prior: DiagonalGMM | None = None

    def __repr__(self) -> str:
        return (
            f"TextVAE(model_type={self.model_type!r}, latent_dim={self.latent_dim}, "
            f"vocab_size={self.tokenizer.vocab_size}, device={str(self.device)!r}, path={self.path})"
        )

    @property
    def model_type(self) -> str:
        """``"vae"`` or ``"lm"``."""
        return self.model.model_type

    @property
    def latent_dim(self) -> int | None:
        """Z, or None for the LM baseline."""
        return self.model.latent_dim if self.model.is_vae else None

    # ------------------------------------------------------------------------- helpers

    def _require_latent(self, what: str) -> None:
        if not self.model.is_vae:
            where = f" at {self.path}" if self.path is not None else ""
            raise NoLatentSpaceError(
                f"{what} needs a latent space, but the model{where} is an LM baseline "
                "(model_type 'lm'), which has no latent space; only sample(n) works for it"
            )

    def _generator(self, seed: int | None) -> torch.Generator | None:
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(int(seed))

    def token_ids(self, sentences: Sequence[str]) -> list[list[int]]:
        """Tokenize sentences for encoding (no bos/eos), rejecting those with no meaningful
        encoding.

        Raises:
            InputError: a sentence that is empty (or whitespace) or whose tokens are all
                unknown, named with its 1-based position.
        """
        if isinstance(sentences, str):
            raise InputError(f"expected a list of sentences, got the string {_preview(sentences)}; wrap it in a list")
        out = []
        for i, sentence in enumerate(sentences):
            if not isinstance(sentence, str):
                raise InputError(f"sentence {i + 1} is a {type(sentence).__name__}, not a string")
            ids = self.tokenizer.encode(sentence) if sentence.strip() else []
            if not ids:
                raise InputError(
                    f"sentence {i + 1} is empty ({_preview(sentence)}); every sentence needs at least one word"
                )
            if len(ids) > MAX_ENCODE_TOKENS:
                raise InputError(
                    f"sentence {i + 1} ({_preview(sentence)}) has {len(ids):,} tokens, more than the "
                    f"{MAX_ENCODE_TOKENS:,} that textvae encodes; split it into sentences"
                )
            if all(t == self.tokenizer.unk_id for t in ids):
                raise InputError(
                    f"every token of sentence {i + 1} ({_preview(sentence)}) is unknown to this "
                    "model's vocabulary, so it has no meaningful encoding; use words from the "
                    "training corpus"
                )
            out.append(ids)
        return out

    def _as_latents(self, z: Tensor | Sequence[Sequence[float]]) -> Tensor:
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.dim() == 1:
            z = z.unsqueeze(0)
        if z.dim() != 2 or z.shape[1] != self.model.latent_dim:
            raise InputError(
                f"z must have shape (S, {self.model.latent_dim}) for this model, got {tuple(z.shape)}"
            )
        return z

    @torch.no_grad()
    def encode_ids(self, ids: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
        """Posterior parameters of token-id sequences (without bos/eos), in chunks.

        Args:
            ids: S id lists, each non-empty.

        Returns:
            ``(mu, logvar)``, each (S, Z), on ``device``.
        """
        self._require_latent("encoding")
        tok = self.tokenizer
        mus, logvars = [], []
        for start in range(0, len(ids), CHUNK):
            batch = collate(
                ids[start : start + CHUNK], bos_id=tok.bos_id, eos_id=tok.eos_id, pad_id=tok.pad_id
            ).to(self.device)
            mu, logvar = self.model.encode(batch.ids[:, 1:], batch.lengths)  # (chunk, Z) each
            mus.append(mu)
            logvars.append(logvar)
        if not mus:
            empty = torch.zeros(0, self.model.latent_dim, device=self.device)
            return empty, empty.clone()
        return torch.cat(mus), torch.cat(logvars)

    def _run_decoder(
        self,
        z: Tensor | None,
        rows: int,
        generator: torch.Generator | None,
        *,
        method: str,
        max_len: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        beam_size: int,
        length_normalization: bool | float,
    ) -> list[list[int]]:
        """Decode ``rows`` rows (from ``z`` (rows, Z), or unconditionally for the LM), in chunks."""
        tok = self.tokenizer
        ends = {"bos_id": tok.bos_id, "eos_id": tok.eos_id, "max_len": max_len}
        out: list[list[int]] = []
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            chunk = None if z is None else z[start : start + size]
            if method == "greedy":
                out += greedy_decode(self.model, chunk, batch_size=size, **ends)
            elif method == "sample":
                out += sample_decode(
                    self.model, chunk, batch_size=size, temperature=temperature, top_k=top_k,
                    top_p=top_p, generator=generator, **ends,
                )
            else:
                out += beam_search(
                    self.model, chunk, batch_size=size, beam_size=beam_size,
                    length_normalization=length_normalization, **ends,
                )
        return out

    # ------------------------------------------------------------------------- encode / decode

    def encode(self, sentences: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Posterior parameters of q(z | x) for each sentence.

        Args:
            sentences: S sentences.

        Returns:
            ``(mu, logvar)``, each (S, Z).

        Raises:
            InputError: an empty or all-unknown sentence (named in the message).
            NoLatentSpaceError: for the LM baseline.
        """
        self._require_latent("encode")
        return self.encode_ids(self.token_ids(sentences))

    def decode_ids(
        self,
        z: Tensor | Sequence[Sequence[float]],
        *,
        method: str = "greedy",
        max_len: int = DEFAULT_MAX_LEN,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        beam_size: int = 5,
        length_normalization: bool | float = True,
        seed: int | None = None,
    ) -> list[list[int]]:
        """Like :meth:`decode`, but return token ids (without bos/eos)."""
        self._require_latent("decode")
        options = {
            "method": method, "max_len": max_len, "temperature": temperature, "top_k": top_k,
            "top_p": top_p, "beam_size": beam_size, "length_normalization": length_normalization,
        }
        check_decoding_options(**options)
        z = self._as_latents(z)
        return self._run_decoder(z, z.shape[0], self._generator(seed), **options)

    def decode(
        self,
        z: Tensor | Sequence[Sequence[float]],
        *,
        method: str = "greedy",
        max_len: int = DEFAULT_MAX_LEN,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        beam_size: int = 5,
        length_normalization: bool | float = True,
        seed: int | None = None,
    ) -> list[str]:
        """Decode latent codes into sentences.

        Args:
            z: (S, Z) codes (a (Z,) vector is one code).
            method: ``"greedy"``, ``"sample"`` or ``"beam"``.
            max_len: most generated tokens per sentence, end token included (>= 1).
            temperature: sampling temperature (> 0), for ``"sample"``.
            top_k: keep the k most likely tokens, for ``"sample"``.
            top_p: nucleus mass in (0, 1], for ``"sample"``.
            beam_size: beams per sentence, for ``"beam"``.
            length_normalization: True, False or an exponent, for ``"beam"``
                (see :func:`textvae.generate.beam_search`).
            seed: seeds token sampling; None uses torch's global generator.

        Returns:
            S sentences.

        Raises:
            DecodingError: an option out of range (e.g. ``max_len`` 0).
            NoLatentSpaceError: for the LM baseline.
        """
        ids = self.decode_ids(
            z, method=method, max_len=max_len, temperature=temperature, top_k=top_k, top_p=top_p,
            beam_size=beam_size, length_normalization=length_normalization, seed=seed,
        )
        return [self.tokenizer.decode(row) for row in ids]

    def _decode_with(
        self, z: Tensor | None, rows: int, generator: torch.Generator | None, options: dict[str, Any]
    ) -> list[str]:
        """Decode with a generator the caller already drew from (one stream per call)."""
        ids = self._run_decoder(z, rows, generator, **self._options(options))
        return [self.tokenizer.decode(row) for row in ids]

    @staticmethod
    def _options(options: dict[str, Any]) -> dict[str, Any]:
        """Fill in and check decoding options; unknown names are an error."""
        full = {
            "method": "greedy", "max_len": DEFAULT_MAX_LEN, "temperature": 1.0, "top_k": None,
            "top_p": None, "beam_size": 5, "length_normalization": True,
        }
        unknown = sorted(set(options) - set(full))
        if unknown:
            raise DecodingError(f"unknown decoding option(s) {unknown}; valid: {sorted(full)}")
        full.update({k: v for k, v in options.items() if not (k == "method" and v is None)})
        check_decoding_options(**full)
        return full

    # ------------------------------------------------------------------------- priors

    def aggregate_prior(self) -> DiagonalGMM:
        """The aggregate prior: cached, else read from ``aggregate_prior.pt``, else fitted.

        A fit (see :meth:`fit_aggregate_prior`) is saved in the checkpoint directory, so it is
        made once per checkpoint.

        Raises:
            CheckpointError: the saved file is unreadable or does not fit this model.
            NoLatentSpaceError: for the LM baseline.
        """
        self._require_latent("the aggregate prior")
        if self._aggregate_prior is not None:
            return self._aggregate_prior
        file = None if self.path is None else self.path / AGGREGATE_PRIOR_FILE
        if file is not None and file.is_file():
            try:
                state = torch.load(file, map_location="cpu", weights_only=True)
                prior = DiagonalGMM.from_state_dict(state, latent_dim=self.model.latent_dim)
            except Exception as err:  # noqa: BLE001 - corrupt, foreign or mismatched file
                raise CheckpointError(
                    f"cannot use {file}: {type(err).__name__}: {str(err).splitlines()[0][:200]}; "
                    "delete it or refit with `textvae fit-prior`"
                ) from None
            self._aggregate_prior = prior.to(self.device)
            return self._aggregate_prior
        return self.fit_aggregate_prior()

    def fit_aggregate_prior(
        self,
        n_components: int = 10,
        *,
        max_sentences: int = 20000,
        seed: int = 0,
        save: bool = True,
    ) -> DiagonalGMM:
        """Fit the aggregate prior to the posterior means of the training sentences.

        Reads the training split named by the checkpoint's config (``data`` section), applies
        the training length filter (``data.max_len``), takes a seeded random subset of at most
        ``max_sentences``, encodes them and fits a diagonal Gaussian mixture
        (:func:`fit_diagonal_gmm`). With ``save`` and a checkpoint path, the mixture is written
        atomically (temporary file, then ``os.replace``) to ``aggregate_prior.pt`` there,
        replacing any earlier fit; if the directory is not writable the fit is kept in memory
        and a warning says so.

        Args:
            n_components: mixture components.
            max_sentences: most training sentences to encode.
            seed: seeds the subset and the mixture initialisation.
            save: write the file.

        Returns:
            The mixture (also cached on this object).
        """
        self._require_latent("the aggregate prior")
        # Imported here: only this path reads a corpus (a `datasets` source imports datasets).
        from textvae.data.corpus import load_sentences
        from textvae.data.sources import apply_max_len

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
        mu, _ = self.encode_ids(ids)  # (N, Z)
        prior = fit_diagonal_gmm(mu, n_components, seed=seed)
        if save and self.path is not None:
            self._save_prior(prior)
        self._aggregate_prior = prior.to(self.device)
        return self._aggregate_prior

    def _save_prior(self, prior: DiagonalGMM) -> None:
        final = self.path / AGGREGATE_PRIOR_FILE
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        try:
            torch.save(prior.state_dict(), tmp)
            os.replace(tmp, final)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            warnings.warn(f"could not save the aggregate prior to {final} ({err}); it is kept in memory only", stacklevel=3)

    def _prior_latents(self, n: int, prior: str, generator: torch.Generator | None) -> Tensor:
        if prior not in PRIORS:
            raise InputError(f"unknown prior {prior!r}; valid: {list(PRIORS)}")
        if prior == "standard":
            return torch.randn(n, self.model.latent_dim, generator=generator, device=self.device)
        return self.aggregate_prior().sample(n, generator=generator)

    # ------------------------------------------------------------------------- generation

    def sample(
        self,
        n: int,
        *,
        prior: str = "standard",
        method: str | None = None,
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> list[str] | tuple[list[str], Tensor | None]:
        """Generate ``n`` sentences from the prior.

        For a VAE, z is drawn from the prior and decoded. For the LM baseline, the language model
        generates unconditionally (``prior`` is ignored and z is None).

        Args:
            n: sentences to generate (>= 1).
            prior: ``"standard"`` (z ~ N(0, I)) or ``"aggregate"`` (the fitted mixture; see
                :meth:`aggregate_prior`).
            method: decoding method; None means ``"greedy"`` for a VAE (the variety comes from z)
                and ``"sample"`` for the LM baseline (whose greedy output is one sentence).
            seed: seeds the prior draws and the decoding.
            return_latents: also return the (n, Z) codes.
            **options: other decoding options of :meth:`decode`.

        Returns:
            n sentences, or ``(sentences, z)`` with ``return_latents``.
        """
        if not isinstance(n, int) or n < 1:
            raise InputError(f"n must be an integer >= 1, got {n!r}")
        if prior not in PRIORS:
            raise InputError(f"unknown prior {prior!r}; valid: {list(PRIORS)}")
        if method is None:
            method = "greedy" if self.model.is_vae else "sample"
        options = self._options({**options, "method": method})
        generator = self._generator(seed)
        z = self._prior_latents(n, prior, generator) if self.model.is_vae else None
        texts = self._decode_with(z, n, generator, options)
        return (texts, z) if return_latents else texts

    def reconstruct(
        self,
        sentences: Sequence[str],
        *,
        source: str = "mean",
        n: int = 1,
        method: str = "greedy",
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> list[list[str]] | tuple[list[list[str]], Tensor]:
        """Encode each sentence and decode it back, ``n`` times.

        Args:
            sentences: S sentences.
            source: ``"mean"`` decodes the posterior mean; ``"sample"`` decodes n independent
                draws z ~ q(z | x).
            n: decodes per sentence. With ``source="mean"``, n > 1 needs ``method="sample"``
                (greedy or beam decoding of one code would repeat one sentence n times).
            method: decoding method.
            seed: seeds posterior draws and decoding.
            return_latents: also return the (S, n, Z) codes.
            **options: other decoding options of :meth:`decode`.

        Returns:
            Per sentence, its n decodes; or ``(decodes, z)`` with ``return_latents``.
        """
        self._require_latent("reconstruct")
        if source not in RECONSTRUCTION_SOURCES:
            raise InputError(f"unknown source {source!r}; valid: {list(RECONSTRUCTION_SOURCES)}")
        if not isinstance(n, int) or n < 1:
            raise InputError(f"n must be an integer >= 1, got {n!r}")
        options = self._options({**options, "method": method})
        if source == "mean" and n > 1 and options["method"] != "sample":
            raise InputError(
                f"n={n} decodes of the posterior mean with {options['method']} decoding would all "
                "be the same sentence; use source='sample' or method='sample'"
            )
        mu, logvar = self.encode(sentences)  # (S, Z) each
        generator = self._generator(seed)
        mu = mu.repeat_interleave(n, dim=0)  # (S*n, Z), sentence-major
        logvar = logvar.repeat_interleave(n, dim=0)
        z = mu if source == "mean" else self.model.reparameterize(mu, logvar, generator=generator)
        texts = self._decode_with(z, z.shape[0], generator, options)
        grouped = [texts[i * n : (i + 1) * n] for i in range(len(texts) // n)]
        if return_latents:
            return grouped, z.view(-1, n, z.shape[1])
        return grouped

    def interpolate(
        self,
        a: str,
        b: str,
        *,
        steps: int = 8,
        path: str = "linear",
        method: str = "greedy",
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> list[str] | tuple[list[str], Tensor]:
        """Decode a path between the posterior means of two sentences (a homotopy,
        Bowman et al. 2016).

        Args:
            a: the first sentence.
            b: the last sentence.
            steps: points in all, >= 2, evenly spaced with both endpoints included: point 0 is
                mu(a) and point ``steps - 1`` is mu(b), so the first and last sentences are the
                decodes of the two encodings.
            path: ``"linear"`` or ``"slerp"`` (see :func:`textvae.generate.interpolation_path`).
            method: decoding method.
            seed: seeds decoding (for ``method="sample"``).
            return_latents: also return the (steps, Z) codes.
            **options: other decoding options of :meth:`decode`.

        Returns:
            ``steps`` sentences, or ``(sentences, z)``.
        """
        self._require_latent("interpolate")
        options = self._options({**options, "method": method})
        mu, _ = self.encode([a, b])  # (2, Z)
        z = interpolation_path(mu[0], mu[1], steps=steps, path=path)  # (steps, Z)
        texts = self._decode_with(z, steps, self._generator(seed), options)
        return (texts, z) if return_latents else texts

    def interpolate_prior(
        self,
        steps: int = 8,
        *,
        seed: int | None = None,
        path: str = "linear",
        method: str = "greedy",
        return_latents: bool = False,
        **options: Any,
    ) -> list[str] | tuple[list[str], Tensor]:
        """Like :meth:`interpolate`, between two random points z ~ N(0, I) (seeded by ``seed``)."""
        self._require_latent("interpolate_prior")
        options = self._options({**options, "method": method})
        generator = self._generator(seed)
        ends = torch.randn(2, self.model.latent_dim, generator=generator, device=self.device)
        z = interpolation_path(ends[0], ends[1], steps=steps, path=path)  # (steps, Z)
        texts = self._decode_with(z, steps, generator, options)
        return (texts, z) if return_latents else texts

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        *,
        method: str = "greedy",
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> str | tuple[str, Tensor]:
        """"a is to b as c is to ?": decode ``mu(c) + mu(b) - mu(a)`` (posterior means).

        Returns:
            One sentence, or ``(sentence, z)`` with the (Z,) code.
        """
        self._require_latent("analogy")
        options = self._options({**options, "method": method})
        mu, _ = self.encode([a, b, c])  # (3, Z)
        z = (mu[2] + mu[1] - mu[0]).unsqueeze(0)  # (1, Z)
        text = self._decode_with(z, 1, self._generator(seed), options)[0]
        return (text, z[0]) if return_latents else text


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
    from textvae.train import resolve_device

    path = Path(checkpoint_dir)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint not found: {path} (train one first, e.g. "
            "`textvae train --config configs/quickstart.yaml`, or pass --checkpoint)"
        )
    if not (path / "meta.json").exists():
        for link in ("best", "last"):
            if (path / link).exists():
                path = path / link
                break
    resolved = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    ckpt = load_checkpoint(path)
    if ckpt.meta.get("kind", "text") != "text":
        raise CheckpointError(
            f"{ckpt.path} is an image-model checkpoint; the text API loads sentence models. "
            "Use `textvae image sample|evaluate|plot` for it"
        )
    tokenizer = ckpt.tokenizer
    model = build_model(ckpt.config.model, tokenizer.vocab_size, tokenizer.pad_id)
    try:
        model.load_state_dict(ckpt.model_state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{ckpt.path}: the weights do not match the model its config describes "
            f"({str(err).splitlines()[0][:200]})"
        ) from None
    # The resolved directory: if training moves `best` on later, the fitted aggregate prior
    # still lands beside the weights it was fitted to.
    return TextVAE(model, tokenizer, ckpt.config, device=resolved, path=ckpt.path.resolve())
