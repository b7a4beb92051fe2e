"""The hot path with OpenTelemetry metrics and spans on, as a ratio to the hot path without.

``await reuse(buffer(retry(source))).token()`` on a fresh token, in one run,
on asyncio and trio:

* ``without`` — no instrumentation;
* ``with metrics`` — ``tokensources.otel.instrument()`` on the real SDK
  (a ``MeterProvider`` with an in-memory reader that collects after every
  round, and a ``TracerProvider``);
* ``with on_event`` — the same cache with an ``on_event`` hook, the way
  metrics were fed before ``instrument()``, for comparison.

Rounds alternate the subjects (instrumentation is switched on for the
``with metrics`` round only) and the median ratio is reported, so a noisy
neighbour slows every subject alike. Target: ``with metrics`` at most 1.3×
``without``.

Run: ``python -m benchmarks.bench_otel [--quick] [--json PATH]``
(or ``python -m benchmarks otel ...``).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from benchmarks._common import print_table, write_json
from tokensources import Token, TokenEvent
from tokensources.wrappers import buffer, retry, reuse

BACKENDS = ("asyncio", "trio")
TARGET_RATIO = 1.3
COMMAND = "python -m benchmarks.bench_otel"


class FixedSource:
    """A source that returns the same day-long token, for the hot path."""

    def __init__(self) -> None:
        self._token = Token("hot-path-token", expires_at=time.time() + 86_400)

    async def token(self) -> Token:
        return self._token

    def invalidate(self, token: Token) -> None:
        pass


def _ignore(event: TokenEvent) -> None:
    pass


async def _ns_per_call(call: Callable[[], Awaitable[object]], iterations: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(iterations):
        await call()
    return (time.perf_counter_ns() - started) / iterations


async def hot_path(iterations: int, rounds: int) -> dict[str, Any]:
    """Median ns per call of each subject, and the median ratios to ``without``."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from tokensources.otel import instrument

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    tracers = TracerProvider()
    cache = reuse(buffer(retry(FixedSource())))
    hooked = reuse(buffer(retry(FixedSource())), on_event=_ignore)
    await cache.token()  # the one refresh, before timing
    await hooked.token()

    times: dict[str, list[float]] = {"without": [], "with metrics": [], "with on_event": []}
    gc.disable()
    try:
        for index in range(rounds):
            order = ["without", "with metrics", "with on_event"]
            if index % 2:
                order.reverse()  # alternate, so drift favours none
            for name in order:
                if name == "with metrics":
                    with instrument(meter_provider=meters, tracer_provider=tracers):
                        times[name].append(await _ns_per_call(cache.token, iterations))
                        reader.get_metrics_data()  # a collection reads the counts
                else:
                    call = hooked.token if name == "with on_event" else cache.token
                    times[name].append(await _ns_per_call(call, iterations))
    finally:
        gc.enable()
        meters.shutdown()
    ratios = {
        name: statistics.median(
            t / base for t, base in zip(times[name], times["without"], strict=True)
        )
        for name in ("with metrics", "with on_event")
    }
    return {
        "iterations": iterations,
        "rounds": rounds,
        "ns_per_call": {name: statistics.median(values) for name, values in times.items()},
        "ratio": ratios,
    }


def run(quick: bool) -> dict[str, Any]:
    """The hot path on both backends."""
    iterations, rounds = (5_000, 5) if quick else (50_000, 31)
    results: dict[str, Any] = {"command": COMMAND + (" --quick" if quick else "")}
    results["target_ratio"] = TARGET_RATIO
    for backend in BACKENDS:
        results[backend] = anyio.run(hot_path, iterations, rounds, backend=backend)
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    rows = []
    for backend in BACKENDS:
        ns = results[backend]["ns_per_call"]
        ratio = results[backend]["ratio"]
        rows.append(
            {
                "backend": backend,
                "without ns": ns["without"],
                "with metrics ns": ns["with metrics"],
                "ratio": ratio["with metrics"],
                "on_event ratio": ratio["with on_event"],
                "target": f"<= {TARGET_RATIO}",
            }
        )
    print_table(
        "Hot path: await reuse(buffer(retry(source))).token(), metrics on vs off",
        rows,
        ["backend", "without ns", "with metrics ns", "ratio", "on_event ratio", "target"],
    )


def main() -> int:
    """Run, print, and write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = run(args.quick)
    report(results)
    if args.json:
        write_json(args.json, "otel", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
