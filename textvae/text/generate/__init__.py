"""Decoding a sentence VAE (or its LM baseline): greedy, sampling and beam search, the decoding
options and their defaults, plus the latent paths used for interpolation.

Modules (the options, their defaults and :class:`DecodingError` are :mod:`textvae.text.run.decoding`'s,
a torch-free module so that the command line can show the defaults without loading torch):
    :mod:`~textvae.text.generate.decode`: the shared step loop, :func:`greedy_decode`,
        :func:`sample_decode` and :func:`filter_logits`.
    :mod:`~textvae.text.generate.beam`: :func:`beam_search`.
    :mod:`~textvae.text.generate.interpolate`: :func:`interpolation_path`.
    :mod:`~textvae.text.generate.latents`: :func:`~textvae.text.generate.latents.check_finite`, the one
        refusal of NaN and infinite latent codes.

All three decoders are batched and take any :class:`~textvae.text.models.contracts.SentenceDecoder`
(a :class:`~textvae.text.models.sentence_vae.SentenceVAE`; beam search also reorders its state through
it). They feed ``bos`` and then their own choices back into its ``decode_step``, keep a
``finished`` mask of rows that have produced ``eos`` (a finished row keeps "emitting" ``eos``,
which never reaches the output), stop as soon as every row is finished or ``max_len`` tokens have
been generated, and return plain id lists without ``bos``/``eos``.

``max_len`` counts generated tokens with the end token included: a row that ends by itself has at
most ``max_len - 1`` words; a row cut off at ``max_len`` has ``max_len`` words and no ``eos``.

Every decoder runs under ``torch.no_grad()`` and in eval mode: a model in training mode is switched
to eval mode for the call and switched back afterwards (dropout would otherwise make greedy
decoding random). Randomness comes only from the ``generator`` argument, so a seeded
``torch.Generator`` reproduces the output exactly.

This package is a low layer: it imports only the standard library, torch, :mod:`textvae.core.errors`
and :mod:`textvae.text.models`.

Shape legend:
    B = batch (rows to decode), K = beam size, V = vocabulary, Z = latent size,
    T = steps decoded so far, S = points on a latent path.
"""

from textvae.text.generate.beam import beam_search
from textvae.text.generate.decode import filter_logits, greedy_decode, sample_decode
from textvae.text.generate.interpolate import INTERPOLATION_PATHS, interpolation_path
from textvae.text.run.decoding import (
    DECODING_METHODS,
    DEFAULT_BEAM_SIZE,
    DEFAULT_LENGTH_NORMALIZATION,
    DEFAULT_MAX_LEN,
    DEFAULT_METHOD,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DEFAULT_TOP_P,
    DecodingError,
    DecodingOptions,
    check_decoding_options,
)

__all__ = [
    "DECODING_METHODS",
    "DEFAULT_BEAM_SIZE",
    "DEFAULT_LENGTH_NORMALIZATION",
    "DEFAULT_MAX_LEN",
    "DEFAULT_METHOD",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "DEFAULT_TOP_P",
    "INTERPOLATION_PATHS",
    "DecodingError",
    "DecodingOptions",
    "beam_search",
    "check_decoding_options",
    "filter_logits",
    "greedy_decode",
    "interpolation_path",
    "sample_decode",
]
