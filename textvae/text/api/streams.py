"""Chunk streams: what :class:`~textvae.text.api.generation.LatentGeneration`'s one chunk loop yields,
``(sentences, z)`` per chunk of rows, turned into what its methods return: one list (with the
joined codes) or one sentence at a time.

z is a (C, Z) tensor per chunk, or None for the LM baseline, which decodes without codes. A stream
whose chunks all hold codes (interpolation, reconstruction) is typed so, and its joined codes are
then a tensor, never None: the overloads below say which stream gives which.

Shape legend: C = rows in a chunk, Z = latent size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

import torch
from torch import Tensor

Chunk = tuple[list[str], Tensor | None]
"""One chunk of a stream: its sentences and their (C, Z) codes (None for the LM baseline)."""

CodedChunk = tuple[list[str], Tensor]
"""A chunk that always holds its codes."""


def chunk_texts(chunks: Iterable[Chunk]) -> list[str]:
    """The stream's sentences, in order, as one list."""
    return [text for texts, _ in chunks for text in texts]


@overload
def join_chunks(
    chunks: Iterable[CodedChunk], return_latents: bool
) -> list[str] | tuple[list[str], Tensor]: ...
@overload
def join_chunks(
    chunks: Iterable[Chunk], return_latents: bool
) -> list[str] | tuple[list[str], Tensor | None]: ...
def join_chunks(
    chunks: Iterable[Chunk], return_latents: bool
) -> list[str] | tuple[list[str], Tensor | None]:
    """Collect a stream of at least one chunk into one list, and with ``return_latents`` the
    (rows, Z) codes too (None for the LM baseline). Codes are kept only when asked for."""
    if not return_latents:
        return chunk_texts(chunks)
    texts: list[str] = []
    codes: list[Tensor] = []
    for chunk, z in chunks:
        texts += chunk
        if z is not None:
            codes.append(z)
    return texts, (torch.cat(codes) if codes else None)


@overload
def chunk_rows(
    chunks: Iterable[CodedChunk], return_latents: bool
) -> Iterator[str] | Iterator[tuple[str, Tensor]]: ...
@overload
def chunk_rows(
    chunks: Iterable[Chunk], return_latents: bool
) -> Iterator[str] | Iterator[tuple[str, Tensor | None]]: ...
def chunk_rows(
    chunks: Iterable[Chunk], return_latents: bool
) -> Iterator[str] | Iterator[tuple[str, Tensor | None]]:
    """A stream one sentence (or one ``(sentence, z)`` pair, z (Z,) or None) at a time."""
    for texts, z in chunks:
        if not return_latents:
            yield from texts
        else:
            yield from zip(texts, [None] * len(texts) if z is None else z, strict=True)
