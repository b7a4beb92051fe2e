"""Helpers shared by the benchmarks: tables, percentiles, the machine, JSON results.

Every benchmark prints plain-text tables to stdout and, with ``--json PATH``,
writes ``{"benchmark", "command", "machine", "results"}`` so the results
page and the plots can be rebuilt from files.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_DIR",
    "Row",
    "command_line",
    "machine",
    "markdown_table",
    "percentile",
    "print_table",
    "text_table",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

Row = Mapping[str, Any]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` by nearest rank; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def text_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """``rows`` as an aligned plain-text table with the given columns."""
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column), *(len(r[i]) for r in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """``rows`` as a Markdown table (numbers right-aligned)."""
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if _numeric(rows, c) else "---" for c in columns) + "|"
    body = ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def _numeric(rows: Sequence[Row], column: str) -> bool:
    values = [row.get(column) for row in rows]
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def print_table(title: str, rows: Sequence[Row], columns: Sequence[str]) -> None:
    """Print a titled plain-text table."""
    print(f"\n{title}\n")
    print(text_table(rows, columns))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = cores
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "processor": platform.machine(),
        "cpu_count": cores,
        "usable_cpus": usable,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def command_line() -> str:
    """This process's command line as a user would type it from the project root."""
    script = Path(sys.argv[0]).resolve()
    here = Path(__file__).resolve().parent
    if script.suffix == ".py" and script.parent == here:
        first = f"python -m benchmarks.{script.stem}"
    else:
        first = f"python {sys.argv[0]}"
    return " ".join([first, *sys.argv[1:]]).replace(str(here.parent) + "/", "")


def write_json(path: str | Path, benchmark: str, results: Any) -> None:
    """Write ``results`` with the command that made them and the machine."""
    document = {
        "benchmark": benchmark,
        "command": command_line(),
        "machine": machine(),
        "results": results,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
