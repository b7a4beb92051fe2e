"""Helpers shared by the benchmarks: titled tables, the machine, JSON results.

Every benchmark prints plain-text tables to stdout and, with ``--json PATH``,
writes ``{"benchmark", "command", "machine", "results"}`` so the results
page and the plots can be rebuilt from files.

The percentile, the table renderer and the testing server in a child
process are the command line's own (``tokensources.cli``), shared with the
demo and the tests; they are re-exported here for the benchmarks.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokensources.cli._spawn import ServerProcess
from tokensources.cli._stats import percentile
from tokensources.cli._table import Row, format_cell, text_table

__all__ = [
    "RESULTS_DIR",
    "Row",
    "ServerProcess",
    "command_line",
    "machine",
    "markdown_table",
    "percentile",
    "print_table",
    "text_table",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """``rows`` as a Markdown table (numbers right-aligned)."""
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if _numeric(rows, c) else "---" for c in columns) + "|"
    body = ["| " + " | ".join(format_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
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
