"""Plots (PNG) and Markdown tables for the docs, made from the benchmarks' JSON results.

``render(results_dir, assets_dir)`` draws what a table shows badly:

- ``peers-token-requests.png``: token requests against concurrent callers,
  on a cold start and at expiry, for tokensources and each peer;
- ``peers-refresh-latency.png``: the latency of requests (binned) over a
  span that includes one token refresh, per contender;
- ``defaults-scenarios.png`` and ``storm-stall.png``: see
  ``benchmarks._plots_defaults``.

``write_tables(results_dir)`` writes ``results.md`` (every table of every
benchmark, with the command and the machine), ``peers-table.md`` and
``peers-refresh-table.md``, which ``docs/benchmarks.md`` and
``docs/comparison.md`` include.

Run: ``python -m benchmarks report`` (the full suite runs it at the end).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table
from benchmarks._plots_defaults import COLOURS, DPI, WIDTH, defaults_scenarios, storm_stall

__all__ = ["render", "write_tables"]

MARKERS = {"tokensources": "o", "naive": "s", "authlib": "^", "httpx-auth": "v"}


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def render(results: Path, assets: Path) -> list[Path]:
    """Draw the PNGs for which results exist; return the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    # Sizes for a figure WIDTH inches wide shown in the docs' ~700 px text column.
    matplotlib.rcParams.update(
        {"font.size": 10.5, "axes.titlesize": 10.5, "figure.titlesize": 11.5}
    )
    written = []
    for name, plots in _plots().items():
        document = _load(results, name)
        if document is None:
            continue
        assets.mkdir(parents=True, exist_ok=True)
        written += [draw(document["results"], assets / png) for draw, png in plots]
    return written


def _token_requests(results: Mapping[str, Any], target: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.6), sharey=True)
    for axis, column, title in (
        (axes[0], "cold_token_requests", "cold start"),
        (axes[1], "expiry_token_requests", "just after expiry"),
    ):
        for name in results["contenders"]:
            rows = [row for row in results["storms"] if row["contender"] == name]
            axis.plot(
                [row["callers"] for row in rows],
                [row[column] for row in rows],
                marker=MARKERS.get(name, "o"),
                markersize=8 if name == "tokensources" else 6,
                linestyle="-" if name == "tokensources" else "--",
                label=name,
                color=COLOURS.get(name),
            )
        axis.set(xscale="log", yscale="log", title=title, xlabel="concurrent callers")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("token requests to the identity provider")
    axes[1].legend()
    fig.suptitle("Token requests vs concurrent callers (fewer is better; 1 is the floor)")
    fig.tight_layout()
    fig.savefig(target, dpi=DPI)
    plt.close(fig)
    return target


def _refresh_latency(results: Mapping[str, Any], target: Path) -> Path:
    import matplotlib.pyplot as plt

    binned = results["refresh_series"]
    series = binned["contenders"]
    column = {name: index for index, name in enumerate(binned["columns"])}
    plan = results["plan"]
    fig, axes = plt.subplots(
        len(series), 1, figsize=(WIDTH, 1.6 * len(series) + 1.2), sharex=True, sharey=True
    )
    for axis, (name, rows) in zip(axes, series.items(), strict=True):
        # Bins where no request started stay empty: every worker was waiting.
        start = [row[column["start_s"]] for row in rows]
        median = [_nan(row[column["p50_ms"]]) for row in rows]
        slowest = [_nan(row[column["max_ms"]]) for row in rows]
        colour = COLOURS.get(name)
        axis.fill_between(start, median, slowest, step="post", alpha=0.25, color=colour)
        axis.step(start, slowest, where="post", color=colour, linewidth=0.8, label="slowest")
        axis.step(start, median, where="post", color=colour, linewidth=1.6, label="median")
        axis.set(yscale="log", ylabel="ms")
        axis.set_title(name, loc="left")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel(
        f"seconds since start, in bins of {binned['bin_seconds'] * 1000:g} ms\n(a refresh is "
        f"due at about {plan['refresh_early']:g} s; a gap is a time when every worker waited)"
    )
    fig.suptitle(
        f"Latency across a token refresh ({plan['workers']} workers, "
        f"a {plan['refresh_latency'] * 1000:.0f} ms token endpoint)"
    )
    fig.tight_layout()
    fig.savefig(target, dpi=DPI)
    plt.close(fig)
    return target


def _plots() -> dict[str, list[tuple[Callable[[Mapping[str, Any], Path], Path], str]]]:
    """Result file → (drawing, PNG) for each plot made from it."""
    return {
        "peers": [
            (_token_requests, "peers-token-requests.png"),
            (_refresh_latency, "peers-refresh-latency.png"),
        ],
        "defaults": [(defaults_scenarios, "defaults-scenarios.png")],
        "storm": [(storm_stall, "storm-stall.png")],
    }


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _tables(value: Any, path: str = "") -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """Every list of flat records (and flat mapping) inside a result, with where it was."""
    if _records(value):
        yield path, value
        return
    if isinstance(value, Mapping):
        scalars = {k: v for k, v in value.items() if not isinstance(v, Mapping | list)}
        nested = {k: v for k, v in value.items() if isinstance(v, Mapping | list)}
        if scalars and len(scalars) > 4:  # a long record reads better as a column
            yield path or "summary", [{"name": k, "value": v} for k, v in scalars.items()]
        elif scalars:
            yield path or "summary", [scalars]
        for key, child in nested.items():
            yield from _tables(child, f"{path} / {key}" if path else str(key))


def _records(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of flat mappings."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) for v in value)
        and all(not isinstance(x, Mapping | list) for v in value for x in v.values())
    )


def write_tables(results: Path) -> list[Path]:
    """Write ``results.md`` and ``peers-table.md`` next to the JSON; return the files written."""
    sections: list[str] = []
    machine_line = ""
    for path in sorted(results.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        machine = document.get("machine", {})
        if machine and not machine_line:
            machine_line = (
                f"Python {machine.get('python')} on {machine.get('platform')}, "
                f"{machine.get('usable_cpus')} usable CPUs, {machine.get('date')}."
            )
        # A benchmark that writes its results bare was run by the suite like this.
        default = f"python -m benchmarks.bench_{path.stem} --json benchmarks/results/{path.name}"
        sections.append(f"### {document.get('benchmark', path.stem)}\n")
        sections.append(f"`{document.get('command', default)}`\n")
        for where, rows in _tables(document.get("results", document)):
            if "series" in where:  # drawn, not tabulated
                continue
            columns = list(dict.fromkeys(key for row in rows for key in row))
            sections.append(f"*{where}*\n\n{markdown_table(rows, columns)}\n")
    written = []
    if sections:
        target = results / "results.md"
        target.write_text(f"{machine_line}\n\n" + "\n".join(sections), encoding="utf-8")
        written.append(target)
    peers = _load(results, "peers")
    if peers is not None:
        rows = peers["results"]["storms"]
        columns = ["contender", "callers", "cold_token_requests", "expiry_token_requests", "failed"]
        target = results / "peers-table.md"
        target.write_text(markdown_table(rows, columns) + "\n", encoding="utf-8")
        written.append(target)
        refresh = peers["results"]["refresh"]
        columns = [
            "contender",
            "requests",
            "token_requests",
            "waited",
            "p50_ms",
            "p99_ms",
            "max_ms",
        ]
        target = results / "peers-refresh-table.md"
        target.write_text(markdown_table(refresh, columns) + "\n", encoding="utf-8")
        written.append(target)
    return written
