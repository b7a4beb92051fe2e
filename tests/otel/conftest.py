"""The OpenTelemetry SDK with in-memory readers, and a cache whose source has its own identity."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, buffer, reuse
from tokensources.otel import Instrumentation, instrument
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import Reuse

SECRET = "otel-test-secret"
SCOPE = "read:messages"
_numbers = itertools.count()


@dataclass
class Telemetry:
    """The SDK's in-memory ends: what the meter collected and the spans that ended."""

    reader: InMemoryMetricReader
    spans: InMemorySpanExporter
    instrumentation: Instrumentation

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` in one collection."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def values(self, name: str, source: str, key: str | None = None) -> dict[Any, Any]:
        """Metric ``name``'s values for ``source``, by the value of attribute ``key``."""
        return {
            (point.attributes.get(key) if key else None): point.value
            for point in self.points(name)
            if point.attributes.get("tokensources.source") == source
        }

    def finished(self) -> tuple[ReadableSpan, ...]:
        """The spans ended so far."""
        return self.spans.get_finished_spans()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """``instrument()`` on an SDK meter and tracer with in-memory readers; off afterwards."""
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    with instrument(meter_provider=meter_provider, tracer_provider=tracer_provider) as on:
        yield Telemetry(reader, spans, on)
    meter_provider.shutdown()
    tracer_provider.shutdown()


@dataclass
class World:
    """A testing server in-process, a client registered for this test alone, and its cache."""

    server: AuthorizationServer
    client_id: str
    cache: Reuse
    http: httpx.AsyncClient


def make_world(server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock) -> World:
    """A cache over ClientCredentials for a client of its own (so its identity is its own)."""
    client_id = f"otel-client-{next(_numbers)}"
    server.register_client(client_id, SECRET)
    source = ClientCredentials(
        server.token_endpoint,
        client_id,
        SECRET,
        scopes=[SCOPE],
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    cache = reuse(buffer(source, seconds=600, jitter=0.0, clock=clock), clock=clock)
    return World(server, client_id, cache, http)


@pytest.fixture
def world(server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock) -> World:
    """See ``World``."""
    return make_world(server, http, clock)
