"""Argument checks shared by the wrappers."""

from __future__ import annotations

import math

from .._errors import ConfigError

__all__ = ["check_seconds"]


def check_seconds(name: str, value: object, *, positive: bool = False) -> float:
    """Return ``value`` as float seconds, or raise ``ConfigError`` naming ``name``.

    Accepts finite ints and floats (not bools) that are ``>= 0``, or ``> 0``
    when ``positive``.
    """
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)
