"""instrument() again, uninstrument() then instrument(), and many caches built and dropped.

OpenTelemetry makes an instrument of a given name once per meter and hands
the first one back for later ones; the metrics must still report after the
instrumentation is turned off and on again on the same meter. Against the
testing server in-process, on both anyio backends, with the real SDK.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.otel.conftest import Telemetry, World
from tests.otel.test_metrics import identity
from tokensources import Static, reuse
from tokensources.otel import instrument
from tokensources.wrappers._hooks import live_reports
from tokensources.wrappers._reuse import Reuse

pytestmark = pytest.mark.anyio

REQUESTS = "tokensources.token.requests"
DURATION = "tokensources.refresh.duration"
CACHES = 2000


@pytest.fixture
def providers() -> Iterator[tuple[MeterProvider, InMemoryMetricReader, TracerProvider]]:
    """An SDK meter provider with an in-memory reader, and a tracer provider; shut down after."""
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    yield meters, reader, tracers
    meters.shutdown()
    tracers.shutdown()


def _points(reader: InMemoryMetricReader) -> Telemetry:
    """The reader wrapped in the shared helper (its span exporter and instrumentation unused)."""
    return Telemetry(reader, InMemorySpanExporter(), None)  # type: ignore[arg-type]


async def test_uninstrument_then_instrument_on_the_same_meter_reports_again(
    world: World, providers: tuple[MeterProvider, InMemoryMetricReader, TracerProvider]
) -> None:
    """Off and on again with the same providers: counts and durations are observed again."""
    meters, reader, tracers = providers
    first = instrument(meter_provider=meters, tracer_provider=tracers)
    await world.cache.token()
    first.uninstrument()
    assert _points(reader).points(REQUESTS) == []
    with instrument(meter_provider=meters, tracer_provider=tracers):
        world.cache.invalidate(await world.cache.token())
        await world.cache.token()
        outcomes = _points(reader).values(REQUESTS, identity(world), "tokensources.outcome")
        durations = [
            point
            for point in _points(reader).points(DURATION)
            if point.attributes.get("tokensources.source") == identity(world)
        ]
    assert outcomes["miss"] == 2
    assert outcomes["hit"] == 1
    # One refresh under each instrumentation, in one histogram.
    assert sum(point.count for point in durations) == 2
    assert world.server.counters.token_requests == 2


async def test_instrument_twice_reports_once_and_an_old_uninstrument_changes_nothing(
    world: World,
    providers: tuple[MeterProvider, InMemoryMetricReader, TracerProvider],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second instrument() on the same meter reports; the first's late uninstrument() is moot."""
    meters, reader, tracers = providers
    with caplog.at_level(logging.WARNING):
        first = instrument(meter_provider=meters, tracer_provider=tracers)
        second = instrument(meter_provider=meters, tracer_provider=tracers)
    first.uninstrument()
    try:
        await world.cache.token()
        outcomes = _points(reader).values(REQUESTS, identity(world), "tokensources.outcome")
    finally:
        second.uninstrument()
    assert outcomes["miss"] == 1
    # No "instrument created already" complaint from the SDK.
    assert [r.getMessage() for r in caplog.records if "already" in r.getMessage()] == []


def test_caches_built_and_dropped_are_not_held_by_the_metrics() -> None:
    """2000 caches built and dropped leave no report behind for the meter to walk."""
    before = len(live_reports())
    for n in range(CACHES):
        reuse(Static(f"token-{n}"))
    gc.collect()
    assert len(live_reports()) <= before


async def test_the_hot_path_counts_only_while_instrumented(
    world: World, providers: tuple[MeterProvider, InMemoryMetricReader, TracerProvider]
) -> None:
    """Without instrumentation no cache pays for counting; with it, every hot-path hit counts."""
    meters, _, tracers = providers
    cache = reuse(Static("abc"))
    await cache.token()
    plain = Reuse.token
    before = cache._reports.hits
    for _ in range(10):
        await cache.token()
    assert cache._reports.hits == before  # not counted: nothing reads the counts
    with instrument(meter_provider=meters, tracer_provider=tracers):
        assert Reuse.token is not plain
        for _ in range(10):
            await cache.token()
        assert cache._reports.hits == before + 10
    assert Reuse.token is plain
