"""The demo's output: the live progress line and the final table."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from ._load import LoadResult, percentile

__all__ = ["Progress", "RunSummary", "ideal_token_requests", "render_table"]


def ideal_token_requests(duration: float, usable_lifetime: float) -> int:
    """The fewest token requests that cover ``duration`` with tokens usable that long."""
    return max(1, math.ceil(duration / usable_lifetime))


@dataclass(slots=True)
class RunSummary:
    """One column of the table: a load run and what it should have cost.

    Attributes:
        title: the column heading.
        result: the run.
        ideal: the ideal number of token requests for the run.
    """

    title: str
    result: LoadResult
    ideal: int


class Progress:
    """A live progress line on stderr, redrawn in place; silent unless stderr is a terminal."""

    def __init__(self, label: str, total: int, *, enabled: bool) -> None:
        self._label = label
        self._total = total
        self._enabled = enabled
        self._width = 0

    def __call__(self, result: LoadResult) -> None:
        """Redraw the line for ``result`` as it is now."""
        if not self._enabled:
            return
        line = (
            f"  {self._label}: {result.sent:,}/{self._total:,} requests, "
            f"{result.failed:,} failed, {result.token_requests:,} token requests, "
            f"{result.duration:.1f} s"
        )
        self._width = max(self._width, len(line))
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()

    def done(self) -> None:
        """Erase the line."""
        if self._enabled and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _rows(summary: RunSummary) -> list[str]:
    result = summary.result
    latencies = sorted(result.latencies)
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
        _ms(percentile(latencies, 0.50)),
        _ms(percentile(latencies, 0.95)),
        _ms(percentile(latencies, 0.99)),
        f"{result.duration:.1f} s",
        f"{rate:,.0f}",
    ]


_LABELS = [
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
]


def render_table(summaries: list[RunSummary]) -> str:
    """The final table: one row per measure, one column per run."""
    columns = [[s.title, *_rows(s)] for s in summaries]
    label_width = max(len(label) for label in _LABELS)
    widths = [max(len(cell) for cell in column) for column in columns]
    lines = []
    for index, label in enumerate(["", *_LABELS]):
        cells = [column[index].rjust(width) for column, width in zip(columns, widths, strict=True)]
        lines.append(f"  {label.ljust(label_width)}   " + "   ".join(cells))
    rule = "  " + "-" * (len(lines[0]) - 2)
    return "\n".join([lines[0], rule, *lines[1:]])
