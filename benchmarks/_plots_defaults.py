"""The plots of ``bench_defaults`` and ``bench_storm`` (PNG, for docs/benchmarks.md).

- ``defaults-scenarios.png``: for each scenario of the peers at their
  defaults, the token requests each contender caused (top) and the
  requests that failed (bottom);
- ``storm-stall.png``: a storm of N requests on one ``AsyncClient``: the
  event loop's longest stall and the storm's duration against N, with and
  without a bound on the requests in flight.

Called by ``benchmarks.plots.render``; matplotlib is imported by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["COLOURS", "DPI", "WIDTH", "defaults_scenarios", "storm_stall"]

# The docs' text column is about 700 px wide: a 7-inch figure at 200 dpi is
# shown at half its size there, so 10.5-point text reads as about 14 px.
WIDTH = 7.0
DPI = 200

COLOURS = {
    "tokensources": "#1f77b4",
    "naive": "#d62728",
    "authlib": "#2ca02c",
    "httpx-auth": "#9467bd",
}


def defaults_scenarios(results: Mapping[str, Any], target: Path) -> Path:
    """Token requests, failed requests and the loop's longest stall per scenario and contender."""
    import matplotlib.pyplot as plt

    rows = results["rows"]
    scenarios = list(dict.fromkeys(row["scenario"] for row in rows))
    names = results["contenders"]
    cell = {(row["scenario"], row["contender"]): row for row in rows}
    width = 0.8 / len(names)
    fig, axes = plt.subplots(3, 1, figsize=(WIDTH, 7.5), sharex=True)
    for axis, column, title in (
        (axes[0], "token_requests", "token requests to the identity provider (fewer is better)"),
        (axes[1], "failed", "requests that failed (0 is ideal)"),
        (axes[2], "longest_stall_ms", "longest event-loop stall, ms (async scenarios only)"),
    ):
        for offset, name in enumerate(names):
            xs, counts = [], []
            for index, scenario in enumerate(scenarios):
                row = cell.get((scenario, name))
                if row is not None and row.get(column) is not None:
                    xs.append(index + (offset - (len(names) - 1) / 2) * width)
                    counts.append(row[column])
            # symlog: zero stays visible as zero, 1 and 100 both read clearly.
            bars = axis.bar(xs, counts, width * 0.95, color=COLOURS.get(name), label=name)
            axis.bar_label(bars, labels=[f"{c:,.0f}" for c in counts], fontsize=8, padding=1)
        axis.set_yscale("symlog", linthresh=1)
        axis.set_ylim(0, max(row.get(column) or 0 for row in rows) * 6 + 2)
        axis.set_title(title, loc="left")
        axis.grid(True, axis="y", alpha=0.3)
    requests = {row["scenario"]: row["requests"] for row in rows}
    axes[2].set_xticks(
        range(len(scenarios)), [f"{s}\n({requests[s]:,} requests)" for s in scenarios]
    )
    axes[1].legend(ncols=2, fontsize="small", loc="upper right")  # where no bar is tall
    fig.suptitle("At their defaults: the same workloads through each client")
    fig.tight_layout()
    fig.savefig(target, dpi=DPI)
    plt.close(fig)
    return target


def storm_stall(results: Mapping[str, Any], target: Path) -> Path:
    """Longest event-loop stall and duration against the storm's size, per contender."""
    import matplotlib.pyplot as plt

    rows = results["rows"]
    names = list(dict.fromkeys(row["contender"] for row in rows))
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4))
    for name in names:
        mine = sorted(
            (row for row in rows if row["contender"] == name), key=lambda row: row["requests"]
        )
        base = name.removesuffix(", bounded")
        style = {
            "color": COLOURS.get("tokensources" if base == "TokenAuth" else base, "#555555"),
            "linestyle": "-" if name.endswith("bounded") else "--",
            "marker": "o" if name.endswith("bounded") else "x",
            "label": name,
        }
        sizes = [row["requests"] for row in mine]
        axes[0].plot(sizes, [row["longest_stall_ms"] for row in mine], **style)
        axes[1].plot(sizes, [row["seconds"] for row in mine], **style)
    axes[0].set(title="longest event-loop stall", ylabel="ms", xlabel="concurrent requests")
    axes[1].set(title="time for the whole storm", ylabel="s", xlabel="concurrent requests")
    for axis in axes:
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(
        f"N requests at once on one AsyncClient (a pool of {results['pool']})\n"
        f"bounded: at most {results['pool']} in flight, the others wait in a CapacityLimiter"
    )
    fig.tight_layout()
    fig.savefig(target, dpi=DPI)
    plt.close(fig)
    return target
