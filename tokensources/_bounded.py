"""Keeping a dictionary that remembers things per origin, client or key to a bounded size."""

from __future__ import annotations

from typing import Any

__all__ = ["forget_oldest"]


def forget_oldest(entries: dict[Any, Any], keep: int) -> None:
    """Drop the entries inserted longest ago until at most ``keep`` are left.

    Safe while other threads add and remove entries: an entry gone
    meanwhile is not an error, and a dictionary that changed size under the
    look at its first key is looked at again.
    """
    while len(entries) > keep:
        try:
            entries.pop(next(iter(entries)), None)
        # Emptied by another thread (the loop then ends), or resized under the look.
        except (StopIteration, RuntimeError):  # noqa: PERF203 - rare, and it must be looked at again
            continue
