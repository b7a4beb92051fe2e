"""Counts in prose: ``1 token request``, ``2 token requests``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with ``noun``, in the plural unless the count is exactly one.

    Args:
        count: how many; shown with thousands separators (``10,000``).
        noun: the singular (``"token request"``).
        plural: the plural when it is not ``noun + "s"`` (``"processes"``).
    """
    word = noun if count == 1 else (plural or noun + "s")
    return f"{count:,} {word}"
