"""The demo's tables: one column per run, one row per measure, and the ideal to judge by."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._load import LoadResult
from ._stats import percentile
from ._table import text_table

__all__ = ["RunSummary", "ideal_token_requests", "render_runs", "summarise"]


def ideal_token_requests(span: float, token_lifetime: float) -> int:
    """The fewest token requests that keep a valid token through ``span`` seconds of use.

    One token for the start, and one more for each full token lifetime the
    span covers: a token fetched at the first request has expired
    ``token_lifetime`` seconds later, so a run using tokens for 12 s needs
    two 10 s tokens, and one using them for exactly 10 s needs two as well.
    No cache can do with fewer while requests keep coming; renewing early
    (``buffer()``) costs more than this on purpose.

    Args:
        span: seconds from the first request sent to the last.
        token_lifetime: seconds each token lives.
    """
    if span < 0 or not token_lifetime > 0:
        raise ValueError("span must be 0 or more and token_lifetime more than 0")
    # The epsilon keeps a span of 3 × 0.1 s from counting as 2.9999 lifetimes.
    return 1 + math.floor(span / token_lifetime + 1e-9)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One column of a table: a load run and the ideal it is judged by.

    Attributes:
        title: the column heading.
        result: the run.
        ideal: the fewest token requests the run could have made.
    """

    title: str
    result: LoadResult
    ideal: int


def summarise(title: str, result: LoadResult, token_lifetime: float) -> RunSummary:
    """``result`` under ``title``, with its ideal from the span it used tokens for."""
    return RunSummary(title, result, ideal_token_requests(result.span, token_lifetime))


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _cells(summary: RunSummary) -> list[str]:
    result = summary.result
    per_request = result.token_requests / result.sent if result.sent else 0.0
    rate = result.sent / result.duration if result.duration else 0.0
    return [
        f"{result.tasks:,} × {result.requests_per_task:,}",
        f"{result.sent:,}",
        f"{result.succeeded:,}",
        f"{result.failed:,}",
        f"{result.token_requests:,}",
        f"{summary.ideal:,}",
        f"{per_request:.4f}",
        _ms(percentile(result.latencies, 50)),
        _ms(percentile(result.latencies, 95)),
        _ms(percentile(result.latencies, 99)),
        f"{result.duration:.1f} s",
        f"{rate:,.0f}",
    ]


_LABELS = (
    "clients × requests each",
    "requests sent",
    "  succeeded",
    "  failed",
    "token requests made",
    "  ideal",
    "token requests per request",
    "latency p50",
    "latency p95",
    "latency p99",
    "run time",
    "requests per second",
)


def render_runs(summaries: Sequence[RunSummary]) -> str:
    """The table of ``summaries``: the measures down the side, one column per run."""
    columns = [s.title for s in summaries]
    cells = [_cells(s) for s in summaries]
    rows = [
        {"": label, **{title: run[index] for title, run in zip(columns, cells, strict=True)}}
        for index, label in enumerate(_LABELS)
    ]
    return text_table(rows, ["", *columns], indent="  ")
