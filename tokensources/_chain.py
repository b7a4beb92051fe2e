"""The chain of wrappers around a source, walked through ``.source``."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["wrapper_chain"]

# Wrappers (buffer, retry, reuse, ...) expose the source they wrap as
# ``.source``; real chains are a handful long, and the bound keeps a source
# whose ``.source`` is itself from looping forever.
MAX_CHAIN = 16


def wrapper_chain(source: object) -> Iterator[object]:
    """``source``, then the source it wraps, and so on down (at most ``MAX_CHAIN`` of them).

    The walk stops at the first object without a ``.source`` (or with
    ``source = None``): the innermost source.
    """
    current: object | None = source
    for _ in range(MAX_CHAIN):
        if current is None:
            return
        yield current
        current = getattr(current, "source", None)
