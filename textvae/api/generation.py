"""What a trained sentence VAE generates from its latent space: prior samples,
reconstructions, interpolations (homotopies) and analogies, as methods of
:class:`~textvae.api.model.TextVAE` (this mixin holds them so that the façade stays one idea
per module).

Methods that generate from latent codes accept ``return_latents=True`` and then return
``(texts, z)``, the z they decoded (for JSON Lines output).

Shape legend: S = sentences, Z = latent size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from textvae.api.prior import PRIORS
from textvae.errors import InputError
from textvae.generate import DEFAULT_METHOD, interpolation_path

RECONSTRUCTION_SOURCES = ("mean", "sample")


class LatentGeneration:
    """Generation methods; they use the façade's encode, option checks and chunked decoding."""

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
        method: str = DEFAULT_METHOD,
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
        mu, _ = self.encode([a, b, c])  # (3, Z)
        z = (mu[2] + mu[1] - mu[0]).unsqueeze(0)  # (1, Z)
        text = self._decode_with(z, 1, self._generator(seed), options)[0]
        return (text, z[0]) if return_latents else text

