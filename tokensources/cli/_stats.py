"""The one percentile function of the command line, the benchmarks and the tests."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (``q`` from 0 to 100) of ``values``, by nearest rank.

    Nearest rank: the smallest value with at least ``q`` percent of the
    values at or below it, so the result is always one of the values (the
    99th percentile of ten samples is the largest). The values need not be
    sorted. With no values at all the result is NaN, which no measurement
    can be mistaken for (tables show it as ``–``).

    Raises:
        ValueError: ``q`` is not between 0 and 100.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    # The epsilon keeps a product such as 0.07 * 100 (7.000000000000001) from
    # ranking as 8.
    rank = max(1, math.ceil(q * len(ordered) / 100 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]
