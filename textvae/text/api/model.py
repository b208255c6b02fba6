"""The :class:`TextVAE` façade: a trained sentence VAE (or LM baseline) with its tokenizer,
taking and returning sentences.

Every method works in batches: inputs of any size are processed in chunks of :data:`CHUNK` rows.
Methods that draw random numbers take a ``seed``; one seeded ``torch.Generator`` on the model's
device then drives everything random in the call (prior draws, posterior samples, token
sampling), so a seed reproduces the output. ``seed=None`` uses torch's global generator. The
generation methods (sample, reconstruct, interpolate, analogy) are
:class:`~textvae.text.api.generation.LatentGeneration`'s.

Shape legend: S = sentences, Z = latent size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from textvae.core.errors import InputError, NoLatentSpaceError
from textvae.text.api.aggregate import AggregatePriorMethods
from textvae.text.api.generation import LatentGeneration
from textvae.text.api.inputs import latent_tensor, sentence_list
from textvae.text.api.inputs import preview as _preview
from textvae.text.api.pretrained import Sharing
from textvae.text.data.batching import collate
from textvae.text.data.tokenizers import Tokenizer
from textvae.text.generate import (
    DEFAULT_BEAM_SIZE,
    DEFAULT_LENGTH_NORMALIZATION,
    DEFAULT_MAX_LEN,
    DEFAULT_METHOD,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DEFAULT_TOP_P,
    DecodingOptions,
    beam_search,
    greedy_decode,
    sample_decode,
)
from textvae.text.models.sentence_vae import SentenceVAE
from textvae.text.run.config import Config

CHUNK = 256  # sentences (or latent rows) per model call

MAX_ENCODE_TOKENS = 4096
"""The longest sentence, in tokens, that :meth:`TextVAE.encode` accepts. Sentence VAEs are
trained on sentences of tens of tokens; a far longer line is almost always a whole document
or a file without line breaks, and encoding it would only burn time and memory."""


class TextVAE(LatentGeneration, AggregatePriorMethods, Sharing):
    """A trained sentence VAE (or LM baseline) with its tokenizer, ready to generate.

    Build it with :func:`load` or :func:`from_pretrained`; share it with
    :meth:`~Sharing.save_pretrained` and :meth:`~Sharing.push_to_hub`. The model is kept in
    eval mode on ``device``.

    Attributes:
        model: the :class:`SentenceVAE`.
        tokenizer: its tokenizer.
        config: the run config it was trained with.
        device: where the model lives.
        path: the checkpoint directory, or None for a model built in memory.
        meta: the checkpoint's meta.json (step, validation figures, training command); {} for
            a model built in memory.
    """

    def __init__(
        self,
        model: SentenceVAE,
        tokenizer: Tokenizer,
        config: Config,
        *,
        device: torch.device | str = "cpu",
        path: str | os.PathLike[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.config = config
        self.path = None if path is None else Path(path)
        self.meta = dict(meta or {})
        self._aggregate_prior = None  # AggregatePriorMethods' cache

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

    @property
    def chunk_size(self) -> int:
        """Rows per model call (:data:`CHUNK`): the ``iter_*`` methods decode this many at a time."""
        return CHUNK

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
            InputError: not a list of strings (:func:`~textvae.text.api.inputs.sentence_list`), or a
                sentence that is empty (or whitespace) or whose tokens are all unknown, named
                with its 1-based position.
        """
        out = []
        for i, sentence in enumerate(sentence_list(sentences)):
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
        return latent_tensor(z, self.model.latent_dim, self.device)

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
            InputError: not a list of strings, or an empty or all-unknown sentence (named in
                the message).
            NoLatentSpaceError: for the LM baseline.
        """
        self._require_latent("encode")
        return self.encode_ids(self.token_ids(sentences))

    def decode_ids(
        self,
        z: Tensor | Sequence[Sequence[float]],
        *,
        method: str = DEFAULT_METHOD,
        max_len: int = DEFAULT_MAX_LEN,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int | None = DEFAULT_TOP_K,
        top_p: float | None = DEFAULT_TOP_P,
        beam_size: int = DEFAULT_BEAM_SIZE,
        length_normalization: bool | float = DEFAULT_LENGTH_NORMALIZATION,
        seed: int | None = None,
    ) -> list[list[int]]:
        """Like :meth:`decode`, but return token ids (without bos/eos)."""
        self._require_latent("decode")
        options = DecodingOptions(
            method=method, max_len=max_len, temperature=temperature, top_k=top_k, top_p=top_p,
            beam_size=beam_size, length_normalization=length_normalization,
        )
        z = self._as_latents(z)
        return self._run_decoder(z, z.shape[0], self._generator(seed), **options.as_dict())

    def decode(
        self,
        z: Tensor | Sequence[Sequence[float]],
        *,
        method: str = DEFAULT_METHOD,
        max_len: int = DEFAULT_MAX_LEN,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int | None = DEFAULT_TOP_K,
        top_p: float | None = DEFAULT_TOP_P,
        beam_size: int = DEFAULT_BEAM_SIZE,
        length_normalization: bool | float = DEFAULT_LENGTH_NORMALIZATION,
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
                (see :func:`textvae.text.generate.beam_search`).
            seed: seeds token sampling; None uses torch's global generator.

        Returns:
            S sentences.

        Raises:
            DecodingError: an option out of range (e.g. ``max_len`` 0).
            InputError: ``z`` of the wrong shape, not numbers, or holding NaN or an infinity
                (``z holds nan at row 2, column 5; latents must be finite``).
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
        return DecodingOptions.from_overrides(options).as_dict()

    # ------------------------------------------------------------------------- generation
