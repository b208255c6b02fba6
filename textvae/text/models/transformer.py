"""The transformer encoder and decoder parts of the sentence VAE (docs/transformer.md).

- :class:`TransformerDecoder`: causal pre-norm blocks (GPT-2's layout: ``x + attn(LN(x))``, then
  ``x + ff(LN(x))``, a final LN), learned or sinusoidal positions. z comes in as the sentence
  VAE's projection of ``[z, c]``, in one of the two published ways or both
  (``model.z_conditioning``): ``embedding`` adds it to every input embedding; ``memory`` (Li et
  al. 2020, Optimus) splits it into S key/value slots for every layer, which every position
  attends to; ``both`` does the two with separate parts of the projection (Optimus's choice).
  Step decoding keeps a key/value cache (:class:`KVCache`); :func:`recomputing_prefix` switches
  it off, for tests and the benchmark.
- :class:`TransformerEncoder`: the same blocks without the causal mask, padding masked out of
  the keys, pooled (mean over the tokens, or the first token) into the posterior heads' input.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention` (flash or memory-efficient
kernels on a GPU). Nothing here reads a tensor on the host: masks and positions are built on the
device from host lengths and shapes.

Shapes: B = batch, T = time steps, E = width (the embedding size), h = heads, D = E / h,
L = layers, S = memory slots per layer, m = S or 0 (the memory in a cache), t = tokens fed so
far, F = feed-forward width, P = the projection of z (E for embedding, L*2*S*E for memory, their
sum for both).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.text.models.parts import DecoderPart, EncoderPart

# Sinusoids have an RMS of 0.7; the token embeddings start uniform in +-0.1 (RMS 0.06) and are
# shared with the encoder and maybe the output layer, so rather than scaling them up by sqrt(E)
# (Vaswani et al.) the positions are scaled down to their size.
SINUSOID_SCALE = 0.1
INIT_STD = 0.02  # GPT-2's initialisation of linear layers and learned positions
# How a transformer decoder can read z (model.z_conditioning).
Z_CONDITIONINGS = ("embedding", "memory", "both")
# Token slots a new key/value cache has room for before it first doubles: PTB's mean sentence
# (22 tokens) fits after one doubling.
CACHE_START = 16


def sinusoid(positions: Tensor, width: int) -> Tensor:
    """Vaswani et al.'s position vectors, float32: (...) long -> (..., E); sines in the even
    dimensions and cosines in the odd ones, wavelengths from 2 pi to 10000 * 2 pi."""
    even = torch.arange(0, width, 2, device=positions.device, dtype=torch.float32)  # (ceil(E/2),)
    angles = positions.float().unsqueeze(-1) * torch.exp(even * (-math.log(10000.0) / width))
    out = angles.new_zeros(*positions.shape, width)
    out[..., 0::2] = angles.sin()
    out[..., 1::2] = angles.cos()[..., : width // 2]
    return out


class Positions(nn.Module):
    """Position vectors: a learned table of ``max_positions`` rows, or scaled sinusoids (any
    length)."""

    def __init__(self, kind: str, width: int, max_positions: int) -> None:
        super().__init__()
        if kind not in ("learned", "sinusoidal"):
            raise ValueError(f"unknown positions {kind!r}; valid: ['learned', 'sinusoidal']")
        self.width, self.max_positions = width, max_positions
        self.table = nn.Embedding(max_positions, width) if kind == "learned" else None

    def forward(self, positions: Tensor) -> Tensor:
        """(...) long -> (..., E)."""
        if self.table is not None:
            return self.table(positions)
        return SINUSOID_SCALE * sinusoid(positions, self.width)

    def check(self, length: int) -> None:
        """Refuse inputs longer than a learned table (``length`` is a host int)."""
        if self.table is not None and length > self.max_positions:
            raise ValueError(f"a sentence of {length} positions (words + 1) is longer than "
                             f"model.max_positions ({self.max_positions}) of learned positions: "
                             "raise model.max_positions, cap data.max_len or use "
                             "model.positions=sinusoidal")

    def reset_parameters(self) -> None:
        if self.table is not None:
            nn.init.normal_(self.table.weight, std=INIT_STD)


class Block(nn.Module):
    """A pre-norm transformer block. Its attention may also read keys and values that come
    before the block's own (a cache, or z's memory slots)."""

    def __init__(self, width: int, heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attn_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attn_out = nn.Linear(width, width)
        self.ff_norm = nn.LayerNorm(width)
        self.ff_in = nn.Linear(width, ff_dim)
        self.ff_out = nn.Linear(ff_dim, width)

    def forward(self, x: Tensor, *, before: tuple[Tensor, Tensor] | None = None,
                mask: Tensor | None = None, causal: bool = False
                ) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, E) -> (B, T, E), and the keys and values attended to, (B, h, m+t, D) each.

        Args:
            before: keys and values ahead of this block's own, (B, h, m, D) each.
            mask: True where a query may attend: (T, m+T) or (B, 1, 1, T), broadcast.
            causal: the lower-triangular mask, without ``before``.
        """
        q, k, v = self._project(x)  # (B, h, T, D) each
        if before is not None:
            k = torch.cat([before[0].to(k.dtype), k], dim=2)  # (B, h, m+T, D)
            v = torch.cat([before[1].to(v.dtype), v], dim=2)
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal)  # (B, h, T, D)
        return self._finish(x, attended), k, v

    def step(self, x: Tensor, keys: Tensor, values: Tensor, filled: int
             ) -> tuple[Tensor, Tensor, Tensor]:
        """One new token, (B, 1, E) -> (B, 1, E), against a preallocated cache.

        Writes the token's key and value into slot ``filled`` of ``keys`` and ``values`` (B, h,
        C, D) each, C > filled, in place, and attends to slots ``[0, filled]``: the cache is
        never copied (a concatenation would copy all of it at every step). Returns the output
        and the buffers written, cast once to the compute dtype if it differs (autocast).
        """
        q, k, v = self._project(x)  # (B, h, 1, D) each
        if keys.dtype != k.dtype:
            keys, values = keys.to(k.dtype), values.to(v.dtype)
        keys[:, :, filled] = k[:, :, 0]
        values[:, :, filled] = v[:, :, 0]
        attended = F.scaled_dot_product_attention(  # every cached slot and itself: no mask
            q, keys[:, :, :filled + 1], values[:, :, :filled + 1])  # (B, h, 1, D)
        return self._finish(x, attended), keys, values

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, E) -> queries, keys and values, (B, h, T, D) each."""
        batch, length, width = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def _finish(self, x: Tensor, attended: Tensor) -> Tensor:
        """The residual stream x (B, T, E) and the heads' output (B, h, T, D) -> (B, T, E)."""
        batch, length, width = x.shape
        attended = attended.transpose(1, 2).reshape(batch, length, width)  # (B, T, E)
        x = x + F.dropout(self.attn_out(attended), self.dropout, self.training)
        ff = self.ff_out(F.gelu(self.ff_in(self.ff_norm(x))))  # (B, T, E)
        return x + F.dropout(ff, self.dropout, self.training)

    def reset_parameters(self, layers: int) -> None:
        """GPT-2's initialisation; the projections back into the residual stream are scaled
        down by sqrt(2L), one for each of the 2L sums on it."""
        for linear in (self.qkv, self.attn_out, self.ff_in, self.ff_out):
            std = INIT_STD / math.sqrt(2 * layers) if linear in (self.attn_out, self.ff_out) else INIT_STD
            nn.init.normal_(linear.weight, std=std)
            nn.init.zeros_(linear.bias)
        for norm in (self.attn_norm, self.ff_norm):
            norm.reset_parameters()


class _Stack(nn.Module):
    """Positions, blocks and the final LayerNorm: what the encoder and decoder share."""

    def __init__(self, width: int, layers: int, heads: int, ff_dim: int, dropout: float,
                 positions: str, max_positions: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"the width {width} is not a multiple of {heads} heads")
        self.width, self.heads = width, heads
        self.positions = Positions(positions, width, max_positions)
        self.blocks = nn.ModuleList(Block(width, heads, ff_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.positions.reset_parameters()
        for block in self.blocks:
            cast(Block, block).reset_parameters(len(self.blocks))
        self.norm.reset_parameters()


class TransformerEncoder(_Stack, EncoderPart):
    """Bidirectional self-attention over the sentence, pooled: (B, T, E) -> (B, E).

    Args:
        width: E, the embedding size. layers: L. heads: h. ff_dim: F. dropout: on attention
        weights and on each block's two outputs. positions: ``learned`` or ``sinusoidal``.
        max_positions: rows of a learned table. pooling: ``mean`` or ``first``.
    """

    def __init__(self, width: int, layers: int, heads: int, ff_dim: int, dropout: float,
                 positions: str, max_positions: int, pooling: str) -> None:
        super().__init__(width, layers, heads, ff_dim, dropout, positions, max_positions)
        if pooling not in ("mean", "first"):
            raise ValueError(f"unknown pooling {pooling!r}; valid: ['mean', 'first']")
        self.pooling = pooling

    @property
    def summary_dim(self) -> int:
        return self.width

    def summarize(self, x: Tensor, host_lengths: Sequence[int]) -> Tensor:
        batch, length, _ = x.shape
        self.positions.check(length)
        h = x + self.positions(torch.arange(length, device=x.device))  # (B, T, E)
        keep = mask = lengths = None
        if min(host_lengths) < length:  # padded rows: their padding is no key
            lengths = torch.tensor(host_lengths).to(x.device, non_blocking=True)  # (B,)
            keep = torch.arange(length, device=x.device) < lengths.unsqueeze(1)  # (B, T)
            mask = keep[:, None, None, :]  # (B, 1, 1, T): every query, every head
        for block in self.blocks:
            h, _, _ = block(h, mask=mask)
        h = self.norm(h)  # (B, T, E)
        if self.pooling == "first":
            return h[:, 0]
        if keep is None or lengths is None:
            return h.mean(dim=1)
        total = (h * keep.unsqueeze(-1).to(h.dtype)).sum(dim=1)  # (B, E): padding adds 0
        return total / lengths.unsqueeze(1).to(h.dtype)


class KVCache(NamedTuple):
    """A transformer decoder's state with the cache: each layer's keys and values of z's memory
    slots and of every token fed so far, the next position, and z's embedding.

    The keys and values live in buffers with room for C >= m+t slots, filled in place as tokens
    come (doubling C when full), so a step copies nothing. A step writes into its state's
    buffers: step each state once (decoding does) and :meth:`TransformerDecoder.reorder_state`
    to branch (beam search), which copies.
    """

    keys: tuple[Tensor, ...]  # L x (B, h, C, D) buffers, slots [0, m+t) filled
    values: tuple[Tensor, ...]  # L x (B, h, C, D)
    filled: Tensor  # (m+t,) empty: its length, host metadata, counts the filled slots (no sync)
    positions: Tensor  # (B,) long: t
    addend: Tensor  # (B, E): added to every input ("embedding" or "both"; zeros otherwise)


class Prefix(NamedTuple):
    """A transformer decoder's state without the cache: the inputs so far, run again at every
    step (:func:`recomputing_prefix`)."""

    inputs: Tensor  # (B, t, E)
    latent: Tensor  # (B, P); (B, 0) without z


TransformerState = KVCache | Prefix


class TransformerDecoder(_Stack, DecoderPart[TransformerState]):
    """Causal self-attention conditioned on z: (B, T, E) -> (B, T, E).

    Args:
        width, layers, heads, ff_dim, dropout, positions, max_positions: as
            :class:`TransformerEncoder`'s.
        conditioning: how z comes in, ``embedding``, ``memory`` or ``both``; None for the LM
            baseline.
        memory_slots: S.
    """

    def __init__(self, width: int, layers: int, heads: int, ff_dim: int, dropout: float,
                 positions: str, max_positions: int, conditioning: str | None,
                 memory_slots: int) -> None:
        super().__init__(width, layers, heads, ff_dim, dropout, positions, max_positions)
        if conditioning not in (None, *Z_CONDITIONINGS):
            raise ValueError(f"unknown z_conditioning {conditioning!r}; valid: {list(Z_CONDITIONINGS)}")
        self.conditioning, self.memory_slots = conditioning, memory_slots
        self.adds_z = conditioning in ("embedding", "both")
        self.memory_len = memory_slots if conditioning in ("memory", "both") else 0  # m
        self.use_cache = True  # False: decode by running the whole prefix at every step

    @staticmethod
    def latent_width(width: int, layers: int, conditioning: str, memory_slots: int) -> int:
        """P, the width of z's projection the decoder reads."""
        memory = layers * 2 * memory_slots * width if conditioning in ("memory", "both") else 0
        return TransformerDecoder.added_width(width, conditioning) + memory

    @staticmethod
    def added_width(width: int, conditioning: str) -> int:
        """The first columns of z's projection, added to every input embedding: E or 0."""
        return width if conditioning in ("embedding", "both") else 0

    @property
    def output_dim(self) -> int:
        return self.width

    def _addend(self, latent: Tensor) -> Tensor:
        """(B, P) -> the part added to every input embedding, (B, E): the first E columns."""
        return latent[:, :self.width]

    def _memory(self, latent: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(B, P) -> each layer's memory keys and values, (B, h, S, D) each, from the last
        L*2*S*E columns."""
        batch, heads = latent.shape[0], self.heads
        latent = latent[:, self.width:] if self.adds_z else latent  # (B, L*2*S*E)
        slots = latent.reshape(batch, len(self.blocks), 2, self.memory_slots, heads, self.width // heads)
        slots = slots.permute(1, 2, 0, 4, 3, 5)  # (L, 2, B, h, S, D)
        return [(layer[0], layer[1]) for layer in slots]

    def _check_latent(self, latent: Tensor | None) -> None:
        if (latent is None) != (self.conditioning is None):
            raise ValueError("this decoder reads z" if self.conditioning else
                             "this decoder (an LM) reads no z")

    def run(self, x: Tensor, latent: Tensor | None) -> Tensor:
        self._check_latent(latent)
        length = x.shape[1]
        self.positions.check(length)
        h = x + self.positions(torch.arange(length, device=x.device))  # (B, T, E)
        memory, mask = None, None
        if latent is not None and self.adds_z:
            h = h + self._addend(latent).unsqueeze(1).to(h.dtype)
        if latent is not None and self.memory_len:
            memory = self._memory(latent)
            # Every query sees the S memory slots and the tokens up to its own.
            mask = torch.ones(length, self.memory_slots + length, dtype=torch.bool,
                              device=x.device).tril(diagonal=self.memory_slots)  # (T, S+T)
        for layer, block in enumerate(self.blocks):
            h, _, _ = block(h, before=None if memory is None else memory[layer], mask=mask,
                            causal=memory is None)
        return self.norm(h)

    def initial_state(self, latent: Tensor | None, batch_size: int) -> TransformerState:
        self._check_latent(latent)
        weight = self.norm.weight  # any parameter: it fixes the device and the dtype
        if latent is not None:
            batch_size = latent.shape[0]
        if not self.use_cache:
            return Prefix(weight.new_zeros(batch_size, 0, self.width),
                          weight.new_zeros(batch_size, 0) if latent is None else latent)
        room = (batch_size, self.heads, self.memory_len + CACHE_START, self.width // self.heads)
        keys = tuple(weight.new_zeros(room) for _ in self.blocks)  # L x (B, h, C, D)
        values = tuple(torch.zeros_like(k) for k in keys)
        if latent is not None and self.memory_len:
            for layer, (memory_keys, memory_values) in enumerate(self._memory(latent)):
                keys[layer][:, :, :self.memory_len] = memory_keys
                values[layer][:, :, :self.memory_len] = memory_values
        addend = (self._addend(latent) if latent is not None and self.adds_z
                  else weight.new_zeros(batch_size, self.width))
        positions = torch.zeros(batch_size, dtype=torch.long, device=weight.device)
        filled = torch.empty(self.memory_len, dtype=torch.bool, device=weight.device)
        return KVCache(keys, values, filled, positions, addend)

    def step(self, x: Tensor, state: TransformerState) -> tuple[Tensor, TransformerState]:
        if isinstance(state, Prefix):
            inputs = torch.cat([state.inputs, x], dim=1)  # (B, t+1, E)
            latent = state.latent if state.latent.shape[1] else None
            return self.run(inputs, latent)[:, -1], Prefix(inputs, state.latent)
        filled = state.filled.shape[0]  # m+t, a host int: no sync
        self.positions.check(filled - self.memory_len + 1)
        keys, values = state.keys, state.values
        if filled == keys[0].shape[2]:  # full: double the room (one copy per doubling)
            keys = tuple(torch.cat([k, torch.zeros_like(k)], dim=2) for k in keys)
            values = tuple(torch.cat([v, torch.zeros_like(v)], dim=2) for v in values)
        h = x + self.positions(state.positions).unsqueeze(1)  # (B, 1, E)
        if self.adds_z:
            h = h + state.addend.unsqueeze(1).to(h.dtype)
        written_keys, written_values = [], []
        for layer, block in enumerate(self.blocks):
            h, k, v = cast(Block, block).step(h, keys[layer], values[layer], filled)
            written_keys.append(k)
            written_values.append(v)
        out = self.norm(h).squeeze(1)  # (B, E)
        grown = state.filled.new_empty(filled + 1)
        return out, KVCache(tuple(written_keys), tuple(written_values), grown,
                            state.positions + 1, state.addend)

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        if isinstance(state, Prefix):
            return Prefix(state.inputs.index_select(0, index), state.latent.index_select(0, index))
        return KVCache(tuple(k.index_select(0, index) for k in state.keys),
                       tuple(v.index_select(0, index) for v in state.values), state.filled,
                       state.positions.index_select(0, index), state.addend.index_select(0, index))


class _HasModules(Protocol):
    def modules(self) -> Iterator[nn.Module]: ...


@contextlib.contextmanager
def recomputing_prefix(model: _HasModules) -> Iterator[None]:
    """Decode without the key/value cache inside the block: every transformer decoder in
    ``model`` runs its whole prefix again at each step (what the cache saves; for tests and the
    benchmark). Start a decode inside the block and finish it there."""
    decoders = [m for m in model.modules() if isinstance(m, TransformerDecoder)]
    before = [d.use_cache for d in decoders]
    for decoder in decoders:
        decoder.use_cache = False
    try:
        yield
    finally:
        for decoder, flag in zip(decoders, before, strict=True):
            decoder.use_cache = flag
