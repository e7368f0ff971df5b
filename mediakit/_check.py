"""Argument checks with messages that name the argument and what it accepts.

Every public entry point checks its arguments here before doing anything, so a bad value is
one clear `ConfigurationError` (a `ValueError`; `ConfigurationTypeError`, also a `TypeError`,
for a value of the wrong type) at the call, not a failure of every file later.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

from ._errors import ConfigurationError, ConfigurationTypeError

__all__ = ["describe", "instance_of", "no_unknown", "one_of", "seconds", "whole_number"]

T = TypeVar("T")


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})" if not isinstance(value, int | float) else text


def whole_number(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int within [minimum, maximum]; bools and floats are refused."""
    span = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationTypeError(f"{name} must be a whole number {span}, not {_shown(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigurationError(f"{name} must be a whole number {span}, not {value}")
    return value


def seconds(name: str, value: object, *, allow_none: bool = False) -> float | None:
    """`value` as a positive, finite number of seconds (None only when allowed)."""
    if value is None and allow_none:
        return None
    wanted = "a positive number of seconds" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationTypeError(f"{name} must be {wanted}, not {_shown(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be {wanted}, not {value}")
    return float(value)


def one_of(name: str, value: object, choices: Collection[T]) -> T:
    """`value` if it is one of `choices` (compared as given), else a message listing them."""
    listed = ", ".join(repr(c) for c in choices)
    if value not in choices:
        kind = ConfigurationTypeError if not isinstance(value, str) else ConfigurationError
        raise kind(f"{name} must be one of {listed}, not {_shown(value)}")
    return value  # type: ignore[return-value]


def instance_of(name: str, value: object, types: type | tuple[type, ...], wanted: str) -> None:
    """Refuse a value that is not an instance of `types`; `wanted` says what is, in words."""
    if not isinstance(value, types):
        raise ConfigurationTypeError(f"{name} must be {wanted}, not {_shown(value)}")


def no_unknown(function: str, given: Iterable[str], known: Collection[str]) -> None:
    """Refuse keyword options nobody reads (a typo would otherwise be silently ignored)."""
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationTypeError(f"{function}() got an unknown option {name!r}{hint}")


def describe(value: Any) -> str:
    """How a bad value is shown in a message: its repr (cut short) and its type."""
    return _shown(value)
