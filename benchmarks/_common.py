"""Helpers shared by the benchmarks: tables, percentiles, the machine, JSON results, a server.

Every benchmark prints plain-text tables to stdout and, with ``--json PATH``,
writes ``{"benchmark", "command", "machine", "results"}`` so the results
page and the plots can be rebuilt from files.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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


class ServerProcess:
    """The testing server in a child process, driven over a pipe from the benchmark.

    In the benchmark's own process the server would compete with the
    clients for one interpreter lock, and its work would show up as client
    latency; a real identity provider is elsewhere. A child process keeps
    the server off the clients' lock while the benchmark can still register
    clients, set the token endpoint's latency and read how many token
    requests arrived (calls that block for a pipe round trip, made between
    measurements only).

    ``tokensources serve`` (``tokensources.cli._spawn``) cannot do these
    while running, hence this small controller.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve_child, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self.base: str = self._call("base")

    def _call(self, command: str, *args: Any) -> Any:
        self._pipe.send((command, args))
        if not self._pipe.poll(30):
            raise RuntimeError(f"the server process did not answer {command!r}")
        return self._pipe.recv()

    def register_client(self, client_id: str, secret: str, **options: Any) -> None:
        """``AuthorizationServer.register_client`` in the child."""
        self._call("register", client_id, secret, options)

    def set_latency(self, seconds: float) -> None:
        """Delay every token endpoint answer by ``seconds`` from now on."""
        self._call("latency", seconds)

    def token_requests(self) -> int:
        """Token requests the server has received so far."""
        count: int = self._call("token_requests")
        return count

    def close(self) -> None:
        """Stop the server and wait for the child to exit."""
        with contextlib.suppress(OSError, RuntimeError):
            self._call("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._pipe.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve_child(pipe: Connection) -> None:
    """The child process: serve on loopback and obey the pipe until told to stop."""
    import anyio

    anyio.run(_serve_and_obey, pipe)


async def _serve_and_obey(pipe: Connection) -> None:
    import anyio.to_thread

    from tokensources.testing import AuthorizationServer

    server = AuthorizationServer(register_demo_client=False)
    async with server.serve() as base:
        while True:
            command, args = await anyio.to_thread.run_sync(pipe.recv)
            if command == "stop":
                pipe.send(None)
                return
            if command == "register":
                client_id, secret, options = args
                server.register_client(client_id, secret, **options)
            elif command == "latency":
                server.faults.latency = args[0]
            answers = {"base": base, "token_requests": server.counters.token_requests}
            pipe.send(answers.get(command))
