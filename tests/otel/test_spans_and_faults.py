"""Spans (one per token-endpoint call, none on hits) and telemetry that fails or is absent.

Against the testing server in-process, on both anyio backends, with the
real OpenTelemetry SDK; time is a fake clock.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from tests.otel.conftest import Telemetry, World, make_world
from tests.support.clock import FakeClock
from tokensources import TokenEndpointError
from tokensources.otel import instrument
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

HITS = 100


async def test_one_span_per_token_endpoint_call_and_none_on_hits(
    world: World, telemetry: Telemetry
) -> None:
    """A cold call and 100 hits make one span; invalidate() and a call make a second."""
    token = await world.cache.token()
    for _ in range(HITS):
        await world.cache.token()
    assert [span.name for span in telemetry.finished()] == ["tokensources.refresh"]
    world.cache.invalidate(token)
    await world.cache.token()
    spans = telemetry.finished()
    assert len(spans) == 2
    assert all((span.attributes or {})["tokensources.result"] == "success" for span in spans)
    assert world.server.counters.token_requests == 2


async def test_a_failed_call_has_an_error_span_with_the_class_and_status_only(
    world: World, telemetry: Telemetry
) -> None:
    """The span of a failed call carries ERROR, the error class and the HTTP status."""
    world.server.enqueue_error(400, "invalid_scope", description="no such scope here")
    with pytest.raises(TokenEndpointError):
        await world.cache.token()
    (span,) = telemetry.finished()
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "TokenEndpointError"
    assert attributes["http.response.status_code"] == 400
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "TokenEndpointError"
    durations = telemetry.points("tokensources.refresh.duration")
    assert [point.count for point in durations] == [1]
    assert durations[0].attributes["tokensources.result"] == "failure"


class RaisingExporter(SpanExporter):
    """An exporter that fails every export."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise RuntimeError("exporter down")

    def shutdown(self) -> None:
        pass


class RaisingTracerProvider(TracerProvider):
    """A tracer provider whose tracers fail to start any span."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        tracer = super().get_tracer(*args, **kwargs)

        def start_span(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("tracer broken")

        tracer.start_span = start_span  # type: ignore[method-assign]
        return tracer


async def test_a_raising_exporter_or_tracer_never_breaks_token(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With an exporter that raises, then a tracer that raises, token() still returns tokens."""
    exporter = RaisingExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    with instrument(meter_provider=meter, tracer_provider=provider):
        world = make_world(server, http, clock)
        token = await world.cache.token()
        world.cache.invalidate(token)
        assert await world.cache.token() is not token
    assert exporter.calls == 2
    with instrument(meter_provider=meter, tracer_provider=RaisingTracerProvider()):
        world = make_world(server, http, clock)
        assert (await world.cache.token()).access_token
    assert "telemetry raised on a refresh start; ignored" in caplog.text
    assert server.counters.token_requests == 3


def test_without_an_sdk_instrument_costs_nothing_and_reports_nothing() -> None:
    """With the API alone (no provider configured), instrument() works and token() is unchanged."""
    program = """
import anyio
from opentelemetry import metrics, trace
from tokensources import Static, reuse
from tokensources.otel import instrument

instrument()
assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
cache = reuse(Static("t0k3n"))
async def main():
    for _ in range(3):
        assert (await cache.token()).access_token == "t0k3n"
anyio.run(main)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


def test_import_tokensources_imports_no_integration() -> None:
    """import tokensources imports neither OpenTelemetry, aiohttp nor requests."""
    program = (
        "import sys, tokensources\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('opentelemetry', 'aiohttp', 'requests')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_instrument_again_replaces_the_previous_one(telemetry: Telemetry) -> None:
    """A second instrument() turns the first off: only one reports at a time."""
    with instrument(meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()])) as new:
        assert not telemetry.instrumentation.active()
        assert new.active()
    assert not new.active()
