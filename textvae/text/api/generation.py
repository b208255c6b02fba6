"""What a trained sentence VAE generates from its latent space: prior samples,
reconstructions, interpolations (homotopies) and analogies, as methods of
:class:`~textvae.text.api.model.TextVAE` (this mixin holds them so that the façade stays one idea
per module).

Methods that generate from latent codes accept ``return_latents=True`` and then return
``(texts, z)``, the z they decoded (for JSON Lines output).

**Streaming and bounds.** :meth:`~LatentGeneration.iter_sample` and
:meth:`~LatentGeneration.iter_interpolate` yield one sentence at a time and decode a chunk of
the façade's ``CHUNK`` rows at a time (prior draws, or points of the path, included), so their
memory stays that of one chunk however many rows are asked for. :meth:`~LatentGeneration.sample`
and :meth:`~LatentGeneration.interpolate` are the same chunks collected into a list, so a seed
gives the same sentences either way. A method that returns a list holds every row, so it first
estimates the memory that takes and, if that is more than the machine has free, raises
:class:`InputError` before any encoding or decoding (:mod:`textvae.text.api.memory`).

Shape legend: S = sentences, Z = latent size, C = rows in a chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor

from textvae.core.errors import InputError
from textvae.text.api.inputs import one_sentence
from textvae.text.api.memory import check_fits_in_memory, estimate_generation_bytes
from textvae.text.api.prior import PRIORS, DiagonalGMM
from textvae.text.api.streams import Chunk, CodedChunk, chunk_rows, chunk_texts, join_chunks
from textvae.text.generate import DEFAULT_METHOD
from textvae.text.generate.interpolate import check_interpolation, interpolation_path
from textvae.text.models.sentence_vae import SentenceVAE
from textvae.text.run.decoding import is_int

RECONSTRUCTION_SOURCES = ("mean", "sample")

_Z = TypeVar("_Z", bound=Tensor | None)  # a chunk's codes: (C, Z), or None for the LM baseline


class LatentGeneration:
    """Generation methods; they use the façade's encode, option checks and chunked decoding.

    What it needs from its host (the :class:`~textvae.text.api.model.TextVAE` façade) is declared
    here: the attributes as class annotations, the host's methods and properties as signatures
    under ``TYPE_CHECKING``, so that mypy checks every use below and checks the façade against
    them, while at run time they do not exist and cannot shadow the façade's (or a sibling
    mixin's) own in the method resolution order.
    """

    model: SentenceVAE
    device: torch.device

    if TYPE_CHECKING:
        @property
        def latent_dim(self) -> int | None: ...
        @property
        def chunk_size(self) -> int: ...
        @staticmethod
        def _options(options: dict[str, Any]) -> dict[str, Any]: ...
        def _require_latent(self, what: str) -> None: ...
        def _generator(self, seed: int | None) -> torch.Generator | None: ...
        def token_ids(self, sentences: Sequence[str]) -> list[list[int]]: ...
        def encode(self, sentences: Sequence[str]) -> tuple[Tensor, Tensor]: ...
        def encode_ids(self, ids: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]: ...
        def _decode_with(self, z: Tensor | None, rows: int, generator: torch.Generator | None,
                         options: dict[str, Any]) -> list[str]: ...
        # from the sibling mixin AggregatePriorMethods
        def aggregate_prior(self, *, log: Callable[[str], None] = ...) -> DiagonalGMM: ...
        def _prior_latents(self, n: int, prior: str, generator: torch.Generator | None) -> Tensor: ...

    # ------------------------------------------------------------------------- the one chunk loop

    def _chunks(
        self,
        rows: int,
        latents: Callable[[int, int], _Z],
        generator: torch.Generator | None,
        options: dict[str, Any],
    ) -> Iterator[tuple[list[str], _Z]]:
        """Decode ``rows`` rows a chunk at a time: ``latents(start, stop)`` gives the chunk's
        (C, Z) codes (None for the LM), drawn from ``generator`` in order, which then decodes
        them; yields ``(sentences, z)`` per chunk. Callers check their arguments first, since
        none of this runs until the first chunk is asked for."""
        chunk = self.chunk_size
        for start in range(0, rows, chunk):
            stop = min(start + chunk, rows)
            z = latents(start, stop)  # (C, Z) or None
            yield self._decode_with(z, stop - start, generator, options), z

    def _check_memory(
        self, what: str, rows: int, options: dict[str, Any], *, latent_copies: int, advice: str
    ) -> None:
        """Refuse, before any work, a call whose rows would not fit in free memory."""
        need = estimate_generation_bytes(
            rows, latent_dim=self.latent_dim or 0, max_len=options["max_len"],
            latent_copies=latent_copies,
        )
        check_fits_in_memory(what, need, advice)

    # ------------------------------------------------------------------------- prior samples

    def _sample_setup(
        self, n: int, prior: str, method: str | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        if not is_int(n) or n < 1:
            raise InputError(f"n must be an integer >= 1, got {n!r}")
        if prior not in PRIORS:
            raise InputError(f"unknown prior {prior!r}; valid: {list(PRIORS)}")
        if method is None:
            method = "greedy" if self.model.is_vae else "sample"
        return self._options({**options, "method": method})

    def _sample_chunks(
        self, n: int, prior: str, seed: int | None, options: dict[str, Any]
    ) -> Iterator[Chunk]:
        if self.model.is_vae and prior == "aggregate":
            self.aggregate_prior()  # read (or fitted) now: its errors come before any output
        generator = self._generator(seed)
        if not self.model.is_vae:
            return self._chunks(n, lambda start, stop: None, generator, options)
        return self._chunks(
            n, lambda start, stop: self._prior_latents(stop - start, prior, generator),
            generator, options,
        )

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

        For a VAE, z is drawn from the prior and decoded, a chunk of ``CHUNK`` rows at a time
        (one generator drives every chunk in order, so a seed gives the same sentences as
        :meth:`iter_sample`). For the LM baseline, the language model generates unconditionally
        (``prior`` is ignored and z is None).

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

        Raises:
            InputError: a bad ``n`` or ``prior``, or ``n`` sentences that would not fit in free
                memory (then use :meth:`iter_sample`).
        """
        options = self._sample_setup(n, prior, method, options)
        self._check_memory(
            f"sample(n={n})", n, options,
            latent_copies=2 if return_latents else 0,  # the chunks' and the joined codes
            advice="ask for fewer, or use iter_sample, which holds one chunk at a time",
        )
        return join_chunks(self._sample_chunks(n, prior, seed, options), return_latents)

    def iter_sample(
        self,
        n: int,
        *,
        prior: str = "standard",
        method: str | None = None,
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> Iterator[str] | Iterator[tuple[str, Tensor | None]]:
        """:meth:`sample`, one sentence at a time: the same sentences for the same seed, with
        the memory of one chunk of ``CHUNK`` rows whatever ``n`` (the prior draws of a chunk
        are made just before it is decoded). Arguments are checked when it is called.

        Yields:
            Sentences, or ``(sentence, z)`` pairs with ``return_latents`` (z (Z,), or None for
            the LM baseline).
        """
        options = self._sample_setup(n, prior, method, options)
        return chunk_rows(self._sample_chunks(n, prior, seed, options), return_latents)

    # ------------------------------------------------------------------------- reconstruction

    def reconstruct(
        self,
        sentences: Sequence[str],
        *,
        source: str = "mean",
        n: int = 1,
        method: str = DEFAULT_METHOD,
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

        Raises:
            InputError: a bad sentence, source or n, or S x n decodes that would not fit in
                free memory.
        """
        self._require_latent("reconstruct")
        if source not in RECONSTRUCTION_SOURCES:
            raise InputError(f"unknown source {source!r}; valid: {list(RECONSTRUCTION_SOURCES)}")
        if not is_int(n) or n < 1:
            raise InputError(f"n must be an integer >= 1, got {n!r}")
        options = self._options({**options, "method": method})
        if source == "mean" and n > 1 and options["method"] != "sample":
            raise InputError(
                f"n={n} decodes of the posterior mean with {options['method']} decoding would all "
                "be the same sentence; use source='sample' or method='sample'"
            )
        ids = self.token_ids(sentences)
        self._check_memory(
            f"reconstructing {len(ids)} sentence{'s' if len(ids) != 1 else ''} with n={n} "
            "decodes each", len(ids) * n, options, latent_copies=3,  # mu, logvar, z repeated
            advice="ask for fewer decodes per sentence (n), or give fewer sentences at a time",
        )
        mu, logvar = self.encode_ids(ids)  # (S, Z) each
        generator = self._generator(seed)
        mu = mu.repeat_interleave(n, dim=0)  # (S*n, Z), sentence-major
        logvar = logvar.repeat_interleave(n, dim=0)
        z = mu if source == "mean" else self.model.reparameterize(mu, logvar, generator=generator)
        chunks = self._chunks(z.shape[0], lambda start, stop: z[start:stop], generator, options)
        texts = chunk_texts(chunks)
        grouped = [texts[i * n : (i + 1) * n] for i in range(len(texts) // n)]
        if return_latents:
            return grouped, z.view(-1, n, z.shape[1])
        return grouped

    # ------------------------------------------------------------------------- interpolation

    def _path_chunks(
        self, z_a: Tensor, z_b: Tensor, steps: int, path: str,
        generator: torch.Generator | None, options: dict[str, Any],
    ) -> Iterator[CodedChunk]:
        def points(start: int, stop: int) -> Tensor:
            return interpolation_path(z_a, z_b, steps=steps, path=path, start=start, stop=stop)

        return self._chunks(steps, points, generator, options)

    def _interpolation_chunks(
        self, a: str, b: str, steps: int, path: str, seed: int | None, options: dict[str, Any]
    ) -> Iterator[CodedChunk]:
        mu, _ = self.encode([one_sentence(a, "a"), one_sentence(b, "b")])  # (2, Z)
        return self._path_chunks(mu[0], mu[1], steps, path, self._generator(seed), options)

    def interpolate(
        self,
        a: str,
        b: str,
        *,
        steps: int = 8,
        path: str = "linear",
        method: str = DEFAULT_METHOD,
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
            path: ``"linear"`` or ``"slerp"`` (see :func:`textvae.text.generate.interpolation_path`).
            method: decoding method.
            seed: seeds decoding (for ``method="sample"``).
            return_latents: also return the (steps, Z) codes.
            **options: other decoding options of :meth:`decode`.

        Returns:
            ``steps`` sentences, or ``(sentences, z)``.

        Raises:
            InputError: a bad sentence (``a must be a string (one sentence), got None``), or
                ``steps`` sentences that would not fit in free memory (then use
                :meth:`iter_interpolate`).
            DecodingError: ``steps < 2`` or an unknown path.
        """
        self._require_latent("interpolate")
        options = self._options({**options, "method": method})
        check_interpolation(steps, path)
        self._check_memory(
            f"interpolate with steps={steps}", steps, options,
            latent_copies=2 if return_latents else 0,
            advice="use fewer steps, or iter_interpolate, which holds one chunk at a time",
        )
        return join_chunks(self._interpolation_chunks(a, b, steps, path, seed, options), return_latents)

    def iter_interpolate(
        self,
        a: str,
        b: str,
        *,
        steps: int = 8,
        path: str = "linear",
        method: str = DEFAULT_METHOD,
        seed: int | None = None,
        return_latents: bool = False,
        **options: Any,
    ) -> Iterator[str] | Iterator[tuple[str, Tensor]]:
        """:meth:`interpolate`, one sentence at a time: the same sentences, with the memory of
        one chunk of ``CHUNK`` points whatever ``steps`` (each chunk's points are computed just
        before it is decoded). Arguments are checked, and the two sentences encoded, when it
        is called.

        Yields:
            Sentences, or ``(sentence, z)`` pairs with ``return_latents`` (z (Z,)).
        """
        self._require_latent("interpolate")
        options = self._options({**options, "method": method})
        check_interpolation(steps, path)
        return chunk_rows(self._interpolation_chunks(a, b, steps, path, seed, options), return_latents)

    def interpolate_prior(
        self,
        steps: int = 8,
        *,
        seed: int | None = None,
        path: str = "linear",
        method: str = DEFAULT_METHOD,
        return_latents: bool = False,
        **options: Any,
    ) -> list[str] | tuple[list[str], Tensor]:
        """Like :meth:`interpolate`, between two random points z ~ N(0, I) (seeded by ``seed``)."""
        self._require_latent("interpolate_prior")
        options = self._options({**options, "method": method})
        check_interpolation(steps, path)
        self._check_memory(
            f"interpolate_prior with steps={steps}", steps, options,
            latent_copies=2 if return_latents else 0, advice="use fewer steps",
        )
        generator = self._generator(seed)
        ends = torch.randn(2, self.model.latent_dim, generator=generator, device=self.device)
        chunks = self._path_chunks(ends[0], ends[1], steps, path, generator, options)
        return join_chunks(chunks, return_latents)

    # ------------------------------------------------------------------------- analogy

    def analogy(
        self,
        a: str,
        b: str,
        c: str,
        *,
        method: str = DEFAULT_METHOD,
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
        mu, _ = self.encode([one_sentence(a, "a"), one_sentence(b, "b"), one_sentence(c, "c")])  # (3, Z)
        z = (mu[2] + mu[1] - mu[0]).unsqueeze(0)  # (1, Z)
        text = self._decode_with(z, 1, self._generator(seed), options)[0]
        return (text, z[0]) if return_latents else text
