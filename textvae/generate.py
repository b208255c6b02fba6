"""Decoding a sentence VAE (or its LM baseline): greedy, sampling and beam search, plus the
latent paths used for interpolation.

All three decoders are batched. They feed ``bos`` and then their own choices back into
:meth:`SentenceVAE.decode_step`, keep a ``finished`` mask of rows that have produced ``eos`` (a
finished row keeps "emitting" ``eos``, which never reaches the output), stop as soon as every row
is finished or ``max_len`` tokens have been generated, and return plain id lists without
``bos``/``eos``.

``max_len`` counts generated tokens with the end token included: a row that ends by itself has at
most ``max_len - 1`` words; a row cut off at ``max_len`` has ``max_len`` words and no ``eos``.

Every decoder runs under ``torch.no_grad()`` and in eval mode: a model in training mode is switched
to eval mode for the call and switched back afterwards (dropout would otherwise make greedy
decoding random). Randomness comes only from the ``generator`` argument, so a seeded
``torch.Generator`` reproduces the output exactly.

Shape legend:
    B = batch (rows to decode), K = beam size, V = vocabulary, Z = latent size,
    T = steps decoded so far, S = points on a latent path.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from numbers import Integral, Real

import torch
from torch import Tensor, nn

from textvae.errors import TextVAEError
from textvae.models.rnn import RNNState, index_state

__all__ = [
    "DECODING_METHODS",
    "INTERPOLATION_PATHS",
    "DecodingError",
    "beam_search",
    "check_decoding_options",
    "filter_logits",
    "greedy_decode",
    "interpolation_path",
    "sample_decode",
]

DECODING_METHODS = ("greedy", "sample", "beam")
INTERPOLATION_PATHS = ("linear", "slerp")


class DecodingError(TextVAEError, ValueError):
    """A decoding option or input is out of range (``max_len < 1``, ``temperature <= 0``, ...).

    It is a ``ValueError`` for library callers and a :class:`TextVAEError` for the CLI, which
    prints it as one line.
    """


# ---------------------------------------------------------------------------------------------
# Option checks (shared by the decoders and the API, which checks before doing any work)
# ---------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_max_len(max_len: int) -> None:
    if not _is_int(max_len) or max_len < 1:
        raise DecodingError(
            f"max_len must be an integer >= 1 (the most tokens to generate, end token "
            f"included), got {max_len!r}"
        )


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if (
        not isinstance(temperature, Real)
        or isinstance(temperature, bool)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise DecodingError(
            f"temperature must be a finite number > 0, got {temperature!r} "
            "(for the most likely token at every step, use greedy decoding)"
        )
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise DecodingError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (
        not isinstance(top_p, Real) or isinstance(top_p, bool) or not 0.0 < top_p <= 1.0
    ):
        raise DecodingError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def _check_beam(beam_size: int, length_normalization: bool | float) -> float:
    """Check the beam options; return the length-normalization exponent alpha."""
    if not _is_int(beam_size) or beam_size < 1:
        raise DecodingError(f"beam_size must be an integer >= 1, got {beam_size!r}")
    if isinstance(length_normalization, bool):
        return 1.0 if length_normalization else 0.0
    if (
        not isinstance(length_normalization, Real)
        or not math.isfinite(length_normalization)
        or length_normalization < 0
    ):
        raise DecodingError(
            "length_normalization must be True, False or an exponent alpha >= 0, got "
            f"{length_normalization!r}"
        )
    return float(length_normalization)


def check_decoding_options(
    *,
    method: str = "greedy",
    max_len: int = 64,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    beam_size: int = 5,
    length_normalization: bool | float = True,
) -> None:
    """Check a full set of decoding options up front (before any encoding or fitting).

    Args:
        method: ``"greedy"``, ``"sample"`` or ``"beam"``.
        max_len: most generated tokens, end token included (>= 1).
        temperature: sampling temperature (> 0); used by ``"sample"``.
        top_k: keep the k most likely tokens (>= 1) or None; used by ``"sample"``.
        top_p: nucleus mass in (0, 1] or None; used by ``"sample"``.
        beam_size: beams per row (>= 1); used by ``"beam"``.
        length_normalization: True, False or an exponent >= 0; used by ``"beam"``.

    Raises:
        DecodingError: naming the first option that is out of range.
    """
    if method not in DECODING_METHODS:
        raise DecodingError(f"unknown decoding method {method!r}; valid: {list(DECODING_METHODS)}")
    _check_max_len(max_len)
    _check_sampling(temperature, top_k, top_p)
    _check_beam(beam_size, length_normalization)


# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the duration of a decode; the caller's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _batch_size(z: Tensor | None, batch_size: int | None) -> int:
    if z is None:
        if batch_size is None:
            raise DecodingError("give z (B, Z) for a VAE, or batch_size for the LM baseline")
        if not _is_int(batch_size) or batch_size < 1:
            raise DecodingError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        return int(batch_size)
    if z.dim() != 2:
        raise DecodingError(f"z must have shape (B, Z), got {tuple(z.shape)}")
    if batch_size is not None and batch_size != z.shape[0]:
        raise DecodingError(f"batch_size {batch_size} does not match z's {z.shape[0]} rows")
    return z.shape[0]


def _state_device(state: RNNState) -> torch.device:
    return (state[0] if isinstance(state, tuple) else state).device


def _trim(ids: Tensor, eos_id: int) -> list[list[int]]:
    """(B, T) generated ids -> per row, the ids before the first eos."""
    rows = []
    for row in ids.tolist():
        rows.append(row[: row.index(eos_id)] if eos_id in row else row)
    return rows


def _decode_loop(
    model: nn.Module,
    z: Tensor | None,
    batch_size: int | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    pick: Callable[[Tensor], Tensor],
) -> list[list[int]]:
    """Token-by-token decoding where ``pick`` maps (B, V) logits to (B,) next tokens."""
    rows = _batch_size(z, batch_size)
    with _eval_mode(model):
        state = model.initial_state(z, rows)
        device = _state_device(state)
        tokens = torch.full((rows,), bos_id, dtype=torch.long, device=device)  # (B,)
        finished = torch.zeros(rows, dtype=torch.bool, device=device)  # (B,)
        steps: list[Tensor] = []
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, state, z)  # (B, V)
            # Finished rows still run through the decoder (the batch stays rectangular); what
            # they would pick is replaced by eos so nothing after their end is ever kept.
            tokens = pick(logits).masked_fill(finished, eos_id)  # (B,)
            steps.append(tokens)
            finished |= tokens == eos_id
            if bool(finished.all()):
                break
    return _trim(torch.stack(steps, dim=1), eos_id)  # from (B, T)


# ---------------------------------------------------------------------------------------------
# Greedy and sampling
# ---------------------------------------------------------------------------------------------


def greedy_decode(
    model: nn.Module,
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Pick the most likely token at every step.

    Args:
        model: a :class:`~textvae.models.sentence_vae.SentenceVAE` (anything with
            ``initial_state`` and ``decode_step``).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token fed first.
        eos_id: the end token; a row stops when it is picked.
        max_len: most generated tokens per row, end token included (>= 1).
        batch_size: B when ``z`` is None.

    Returns:
        B id lists, without bos/eos.

    Raises:
        DecodingError: ``max_len < 1`` or inconsistent ``z``/``batch_size``.
    """
    _check_max_len(max_len)
    return _decode_loop(
        model, z, batch_size, bos_id=bos_id, eos_id=eos_id, max_len=max_len,
        pick=lambda logits: logits.argmax(dim=-1),
    )


def filter_logits(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """Temperature, then top-k, then nucleus (top-p, Holtzman et al. 2020) filtering.

    Filtered-out tokens get ``-inf``. Top-k keeps every token tied with the k-th largest logit.
    Top-p keeps the smallest set of most likely tokens whose probability reaches ``top_p``; the
    most likely token is always kept, so a tiny ``top_p`` (like ``top_k=1``) is greedy decoding.

    Args:
        logits: (B, V).
        temperature: > 0; logits are divided by it.
        top_k: keep the k largest logits, or None.
        top_p: nucleus mass in (0, 1], or None.

    Returns:
        (B, V) filtered logits.
    """
    _check_sampling(temperature, top_k, top_p)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V) each
        probs = sorted_logits.softmax(dim=-1)  # (B, V)
        # Drop a token when the tokens ranked above it already reach top_p.
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V)
        drop_sorted = mass_before >= top_p  # (B, V); rank 0 has mass 0 < top_p: always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # vocab order
        logits = logits.masked_fill(drop, -math.inf)
    return logits


def sample_decode(
    model: nn.Module,
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Sample every token from the (filtered) next-token distribution; see :func:`filter_logits`.

    Args:
        model: the model (as in :func:`greedy_decode`).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token.
        eos_id: the end token.
        max_len: most generated tokens per row, end token included (>= 1).
        temperature: > 0.
        top_k: keep the k most likely tokens, or None.
        top_p: nucleus mass in (0, 1], or None.
        generator: the source of randomness (on the model's device); None uses torch's global
            generator. The same seeded generator and inputs give the same output.
        batch_size: B when ``z`` is None.

    Returns:
        B id lists, without bos/eos.

    Raises:
        DecodingError: an option out of range.
    """
    _check_max_len(max_len)
    _check_sampling(temperature, top_k, top_p)

    def pick(logits: Tensor) -> Tensor:
        filtered = filter_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p)
        probs = filtered.softmax(dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)

    return _decode_loop(
        model, z, batch_size, bos_id=bos_id, eos_id=eos_id, max_len=max_len, pick=pick
    )


# ---------------------------------------------------------------------------------------------
# Beam search
# ---------------------------------------------------------------------------------------------


def beam_search(
    model: nn.Module,
    z: Tensor | None,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 5,
    length_normalization: bool | float = True,
    batch_size: int | None = None,
) -> list[list[int]]:
    """Beam search, batched over B rows x K beams in one decoder batch of B*K.

    Hypotheses are ranked by ``log p(y | z) / len(y) ** alpha``, where ``len(y)`` counts the
    generated tokens including the end token, and alpha is 1 for ``length_normalization=True``
    (mean log-probability per token), 0 for False (the plain sum, which favours short
    sentences), or the given float. The same score ranks candidates at every step and picks the
    final answer. A finished hypothesis stays in its beam with a single continuation (eos, at no
    cost), so its score no longer changes. The search stops when every beam of every row has
    finished, or (with alpha = 0, where scores can only fall) when every row's best finished
    hypothesis beats all its unfinished ones, or after ``max_len`` steps (then unfinished
    hypotheses compete as they are).

    Scores are kept in float64 so that adding a long prefix's score cannot round two different
    next-token log-probabilities into a tie: with ``beam_size=1`` this is exactly greedy decoding.

    Args:
        model: the model (as in :func:`greedy_decode`).
        z: (B, Z) latent codes, or None for the LM baseline (then give ``batch_size``).
        bos_id: the start token.
        eos_id: the end token.
        max_len: most generated tokens per row, end token included (>= 1).
        beam_size: K >= 1.
        length_normalization: True (alpha = 1), False (alpha = 0) or an exponent alpha >= 0.
        batch_size: B when ``z`` is None.

    Returns:
        B id lists (each row's best hypothesis), without bos/eos.

    Raises:
        DecodingError: an option out of range.
    """
    _check_max_len(max_len)
    alpha = _check_beam(beam_size, length_normalization)
    rows = _batch_size(z, batch_size)
    k = beam_size

    def normalized(score: Tensor, length: Tensor) -> Tensor:
        return score / length.clamp(min=1).double().pow(alpha)

    with _eval_mode(model):
        state = model.initial_state(z, rows)
        device = _state_device(state)
        # Row b's beams sit at b*K .. b*K+K-1 of the decoder batch.
        expand = torch.arange(rows, device=device).repeat_interleave(k)  # (B*K,)
        state = index_state(state, expand)
        z_beams = None if z is None else z.index_select(0, expand)  # (B*K, Z)
        tokens = torch.full((rows * k,), bos_id, dtype=torch.long, device=device)  # (B*K,)
        # All K beams start as the same empty hypothesis; only beam 0 may expand at the first
        # step, or the first step would fill the beam with K copies of each candidate.
        scores = torch.zeros(rows, k, dtype=torch.float64, device=device)  # (B, K)
        scores[:, 1:] = -math.inf
        lengths = torch.zeros(rows, k, dtype=torch.long, device=device)  # (B, K)
        finished = torch.zeros(rows, k, dtype=torch.bool, device=device)  # (B, K)
        history = torch.empty(rows, k, 0, dtype=torch.long, device=device)  # (B, K, T)
        row_offset = torch.arange(rows, device=device).unsqueeze(1) * k  # (B, 1)
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, state, z_beams)  # (B*K, V)
            vocab = logits.shape[-1]
            logp = logits.double().log_softmax(dim=-1).view(rows, k, vocab)  # (B, K, V)
            # A finished hypothesis continues only with eos, at log-probability 0.
            eos_only = torch.full_like(logp[0, 0], -math.inf)  # (V,)
            eos_only[eos_id] = 0.0
            logp = torch.where(finished.unsqueeze(-1), eos_only, logp)
            candidates = scores.unsqueeze(-1) + logp  # (B, K, V)
            new_length = lengths + (~finished).long()  # (B, K): length after this step
            rank = normalized(candidates, new_length.unsqueeze(-1))  # (B, K, V)
            top = rank.view(rows, k * vocab).topk(k, dim=-1).indices  # (B, K)
            beam = top // vocab  # (B, K): which hypothesis each survivor extends
            token = top % vocab  # (B, K)
            scores = candidates.view(rows, k * vocab).gather(1, top)
            lengths = new_length.gather(1, beam)
            finished = finished.gather(1, beam) | (token == eos_id)
            steps = history.shape[-1]
            history = torch.cat(
                [history.gather(1, beam.unsqueeze(-1).expand(-1, -1, steps)), token.unsqueeze(-1)],
                dim=-1,
            )  # (B, K, T+1)
            state = index_state(state, (row_offset + beam).view(-1))
            tokens = token.view(-1)
            if bool(finished.all()):
                break
            if alpha == 0.0:
                # Raw log-probabilities only fall as a hypothesis grows: once each row's best
                # finished hypothesis beats all its unfinished ones, nothing can overtake it.
                done = scores.masked_fill(~finished, -math.inf).amax(dim=1)  # (B,)
                still_open = scores.masked_fill(finished, -math.inf).amax(dim=1)  # (B,)
                if bool((done > still_open).all()):
                    break
        best = normalized(scores, lengths).argmax(dim=-1)  # (B,)
        chosen = history[torch.arange(rows, device=device), best]  # (B, T)
    return _trim(chosen, eos_id)


# ---------------------------------------------------------------------------------------------
# Latent paths
# ---------------------------------------------------------------------------------------------


def interpolation_path(z_a: Tensor, z_b: Tensor, *, steps: int, path: str = "linear") -> Tensor:
    """``steps`` evenly spaced points from ``z_a`` to ``z_b``, both endpoints included.

    ``linear`` is ``(1 - t) z_a + t z_b``. ``slerp`` (spherical interpolation, White 2016) moves
    along the great circle at a constant angle per step, scaling between the two norms as a
    linear path does; it keeps intermediate points at a typical distance from the origin of a
    Gaussian prior instead of cutting through its low-norm centre. For (anti)parallel or zero
    vectors the angle is undefined and slerp falls back to the linear path.

    Args:
        z_a: (Z,) first endpoint.
        z_b: (Z,) last endpoint.
        steps: S >= 2 points in all; point 0 is ``z_a`` and point S-1 is ``z_b`` exactly.
        path: ``"linear"`` or ``"slerp"``.

    Returns:
        (S, Z).

    Raises:
        DecodingError: ``steps < 2``, an unknown path, or endpoints of different shapes.
    """
    if not _is_int(steps) or steps < 2:
        raise DecodingError(
            f"steps must be an integer >= 2 (the points of the path, both endpoints included), "
            f"got {steps!r}"
        )
    if path not in INTERPOLATION_PATHS:
        raise DecodingError(f"unknown interpolation path {path!r}; valid: {list(INTERPOLATION_PATHS)}")
    if z_a.dim() != 1 or z_a.shape != z_b.shape:
        raise DecodingError(
            f"endpoints must be two (Z,) vectors, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype, device=z_a.device).unsqueeze(1)  # (S, 1)
    points = (1 - t) * z_a + t * z_b  # (S, Z)
    if path == "slerp":
        norms = z_a.norm() * z_b.norm()
        if norms > 0:
            cos = (z_a @ z_b / norms).clamp(-1.0, 1.0)
            omega = torch.arccos(cos)
            sin_omega = torch.sin(omega)
            if sin_omega > 1e-6:
                points = (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / sin_omega
    # Exact endpoints whatever the rounding above: decoding point 0 must be decoding z_a.
    points[0] = z_a
    points[-1] = z_b
    return points
