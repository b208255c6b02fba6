"""Typed configs from plain dicts: the one place a YAML mapping becomes a checked dataclass,
for every side's configs (text :mod:`textvae.text.run.config`, image :mod:`textvae.image.run.config`).

:func:`from_dict` walks the dataclass's annotations (``Literal`` choices, unions with null,
lists, mappings, nested sections) and raises :class:`~textvae.core.errors.ConfigError` naming the
dotted key: an unknown key (with the closest valid one and the section's valid keys), a wrong
type, a non-finite number or an invalid choice. :func:`to_dict` is its inverse, as saved in
checkpoints.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal

from textvae.core.config_files import quoted_key
from textvae.core.errors import ConfigError


class RunConfig:
    """The base of a whole run's config (text ``Config``, the image run configs): what loading
    one from a checkpoint needs beyond its fields."""

    @classmethod
    def upgrade_saved(cls, raw: dict) -> dict:
        """``config.yaml`` of a checkpoint, as read, in today's keys: a config whose keys have
        moved or gone since older checkpoints were saved overrides this (nothing has, here)."""
        return raw


def check_positive(obj: Any, section: str, *names: str) -> None:
    """Refuse a zero or negative value of each field ``names`` of the config ``obj``."""
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{section}.{name} must be positive, got {value}")




def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value is False and "off" in choices:
            value = "off"  # YAML 1.1 reads a bare `off` as false (`amp: off`)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{key}: invalid choice {value!r}; valid choices: {valid}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{key}: expected {expected}, got {value!r}")
    if origin is dict:
        key_type, value_type = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {
            _coerce(k, key_type, f"{key}.{k}"): _coerce(v, value_type, f"{key}.{k}")
            for k, v in value.items()
        }
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a section's class
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (a mapping of keys), got {value!r}")
        return from_dict(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 3e-4 as a string (it wants 3.0e-4); accept the usual spelling.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            # YAML reads .nan and .inf as floats; no setting means anything with them.
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config field {key} has an unsupported annotation {tp!r}")


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build the dataclass ``cls`` from a plain dict, checking every key and type.

    Raises:
        ConfigError: naming the dotted key, and the valid keys or choices.
    """
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            where = f"section '{prefix}'" if prefix else "the top level"
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                f"unknown key {quoted_key(key)}{hint}; valid keys in {where}: {', '.join(names)}"
            )
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as err:  # __post_init__ validation of configs that live beside models
        raise ConfigError(str(err)) from None


def to_dict(cfg: Any) -> dict:
    """The plain-dict form of a config, as saved in checkpoints (``from_dict`` inverts it)."""
    return dataclasses.asdict(cfg)
