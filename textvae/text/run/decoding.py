"""Decoding options: their defaults (defined here and nowhere else), their checks, and the
:class:`DecodingOptions` value that carries a full, checked set of them. It imports no torch, so
the command line can show the defaults in ``--help`` without loading it.

Every layer that offers decoding (the decoders in this package, the Python API, the CLI, the
evaluation and quality reports) takes its defaults from the ``DEFAULT_*`` constants or from
:class:`DecodingOptions`, so that changing a default here changes it everywhere.

The ``check_*`` helpers and :func:`is_int` are shared with the decoders of this package, which
check their own arguments; they are not re-exported by :mod:`textvae.text.generate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

from textvae.core.errors import TextVAEError

__all__ = [
    "DECODING_METHODS",
    "DEFAULT_BEAM_SIZE",
    "DEFAULT_LENGTH_NORMALIZATION",
    "DEFAULT_MAX_LEN",
    "DEFAULT_METHOD",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_K",
    "DEFAULT_TOP_P",
    "DecodingError",
    "DecodingOptions",
    "check_applicable",
    "check_decoding_options",
    "without_latents",
]

DECODING_METHODS = ("greedy", "sample", "beam")

# The one home of the decoding defaults.
DEFAULT_METHOD = "greedy"
DEFAULT_MAX_LEN = 64  # generated tokens, end token included
DEFAULT_TEMPERATURE = 1.0  # the model's own distribution
DEFAULT_TOP_K: int | None = None  # no top-k filtering
DEFAULT_TOP_P: float | None = None  # no nucleus filtering
DEFAULT_BEAM_SIZE = 5
DEFAULT_LENGTH_NORMALIZATION: bool | float = True  # rank beams by mean log-probability per token


class DecodingError(TextVAEError, ValueError):
    """A decoding option or input is out of range (``max_len < 1``, ``temperature <= 0``, ...).

    It is a ``ValueError`` for library callers and a :class:`TextVAEError` for the CLI, which
    prints it as one line.
    """


# ---------------------------------------------------------------------------------------------
# Checks of single options (also run by each decoder on its own arguments)
# ---------------------------------------------------------------------------------------------


def is_int(value: object) -> bool:
    """An integer of any integral type, but not a bool (``True`` is not a length of 1)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_max_len(max_len: int) -> None:
    if not is_int(max_len) or max_len < 1:
        raise DecodingError(
            f"max_len must be an integer >= 1 (the most tokens to generate, end token "
            f"included), got {max_len!r}"
        )


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
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
    if top_k is not None and (not is_int(top_k) or top_k < 1):
        raise DecodingError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and (
        not isinstance(top_p, Real) or isinstance(top_p, bool) or not 0.0 < top_p <= 1.0
    ):
        raise DecodingError(f"top_p must be in (0, 1] or None, got {top_p!r}")


# The options only one method reads, by the method that reads them.
METHOD_OF_OPTION = {
    "temperature": "sample", "top_k": "sample", "top_p": "sample",
    "beam_size": "beam", "length_normalization": "beam",
}


def check_applicable(options: Mapping[str, Any], *, flags: bool = False) -> None:
    """Refuse an option that the decoding method ignores, set away from its default
    (``top_k=3`` with greedy decoding would silently change nothing). Options left at their
    defaults always pass, whatever the method.

    Args:
        options: option name -> value; ``method`` missing means the default method.
        flags: name the options as command-line flags (``--top-k``, ``--method sample``).

    Raises:
        DecodingError: naming the first such option, its method and what to do.
    """
    method = options.get("method", DEFAULT_METHOD)
    defaults = {f.name: f.default for f in dataclasses.fields(DecodingOptions)}
    for name, owner in METHOD_OF_OPTION.items():
        if owner == method or name not in options or options[name] == defaults[name]:
            continue
        option = f"--{name.replace('_', '-')}" if flags else name
        use = f"--method {owner}" if flags else f"method={owner!r}"
        raise DecodingError(
            f"{option} applies to {use}; {method} decoding ignores it (leave {option} out, or "
            f"use {use})"
        )


def check_beam(beam_size: int, length_normalization: bool | float) -> float:
    """Check the beam options; return the length-normalization exponent alpha."""
    if not is_int(beam_size) or beam_size < 1:
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


# ---------------------------------------------------------------------------------------------
# A full set of options
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """A full, checked set of decoding options; the field defaults are the library's defaults.

    Construction checks every field (in the order below) and raises :class:`DecodingError`
    naming the first one out of range, then refuses an option the method ignores
    (:func:`check_applicable`), so an instance is always valid; being frozen, it stays so
    (``dataclasses.replace`` checks again). Values are kept as given, not converted.

    Attributes:
        method: ``"greedy"``, ``"sample"`` or ``"beam"``.
        max_len: most generated tokens per row, end token included (>= 1).
        temperature: sampling temperature (> 0); used by ``"sample"``.
        top_k: keep the k most likely tokens (>= 1) or None; used by ``"sample"``.
        top_p: nucleus mass in (0, 1] or None; used by ``"sample"``.
        beam_size: beams per row (>= 1); used by ``"beam"``.
        length_normalization: True, False or an exponent >= 0; used by ``"beam"``.
    """

    method: str = DEFAULT_METHOD
    max_len: int = DEFAULT_MAX_LEN
    temperature: float = DEFAULT_TEMPERATURE
    top_k: int | None = DEFAULT_TOP_K
    top_p: float | None = DEFAULT_TOP_P
    beam_size: int = DEFAULT_BEAM_SIZE
    length_normalization: bool | float = DEFAULT_LENGTH_NORMALIZATION

    def __post_init__(self) -> None:
        options = self.as_dict()
        _check_values(options)
        check_applicable(options)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in field order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> DecodingOptions:
        """The defaults, updated with ``overrides`` (option name -> value), checked.

        ``method=None`` stands for the default method, so that a caller can pass on an unset
        choice (a CLI flag left out) as it is; every other None is taken as given.

        Raises:
            DecodingError: an unknown option name (all of them are listed, with the valid
                names), else the first option out of range, else one the method ignores.
        """
        overrides = {} if overrides is None else overrides
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise DecodingError(
                f"unknown decoding option(s) {unknown}; valid: {sorted(cls.names())}"
            )
        given = {k: v for k, v in overrides.items() if not (k == "method" and v is None)}
        return cls(**given)

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict in field order, for ``**`` into a call or a record."""
        return {name: getattr(self, name) for name in self.names()}


def _check_values(options: Mapping[str, Any]) -> None:
    """Each option in its range, in field order (the method first)."""
    if options["method"] not in DECODING_METHODS:
        raise DecodingError(
            f"unknown decoding method {options['method']!r}; valid: {list(DECODING_METHODS)}"
        )
    check_max_len(options["max_len"])
    check_sampling(options["temperature"], options["top_k"], options["top_p"])
    check_beam(options["beam_size"], options["length_normalization"])


def check_decoding_options(
    *,
    method: str = DEFAULT_METHOD,
    max_len: int = DEFAULT_MAX_LEN,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int | None = DEFAULT_TOP_K,
    top_p: float | None = DEFAULT_TOP_P,
    beam_size: int = DEFAULT_BEAM_SIZE,
    length_normalization: bool | float = DEFAULT_LENGTH_NORMALIZATION,
    flags: bool = False,
) -> None:
    """Check a full set of decoding options up front (before any encoding or fitting).

    The same checks as constructing :class:`DecodingOptions` (see there for each option),
    for callers that hold the options as separate arguments; with ``flags``, an option the
    method ignores is named as the command line spells it (``--top-k``).

    Raises:
        DecodingError: naming the first option that is out of range, else one the method
            ignores.
    """
    options = {
        "method": method, "max_len": max_len, "temperature": temperature, "top_k": top_k,
        "top_p": top_p, "beam_size": beam_size, "length_normalization": length_normalization,
    }
    _check_values(options)
    check_applicable(options, flags=flags)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


ListT = TypeVar("ListT", bound=list[Any])


def without_latents(result: ListT | tuple[ListT, Any]) -> ListT:
    """The sentences of a generation call (``TextVAE.sample``, ``interpolate``, ``reconstruct``,
    ...), a list, which the call returns as ``(sentences, z)`` when ``return_latents`` asks for
    the codes too."""
    return result[0] if isinstance(result, tuple) else result
