"""The metrics: token requests by outcome, failures, lifetime, cooldowns, lock waits.

Against the testing server in-process, on both anyio backends, with the
real OpenTelemetry SDK and an in-memory reader; time is a fake clock.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from tests.otel.conftest import SCOPE, SECRET, Telemetry, World
from tests.support.clock import FakeClock
from tokensources import TokenEndpointError
from tokensources._identity import shared_identity
from tokensources._redact import fingerprint

pytestmark = pytest.mark.anyio

CALLERS = 20
REQUESTS = "tokensources.token.requests"


def identity(world: World) -> str:
    """The identity fingerprint the metrics name ``world``'s source by."""
    return fingerprint(shared_identity(world.cache, None))


async def test_a_cold_storm_counts_one_miss_and_the_rest_coalesced(
    world: World, telemetry: Telemetry
) -> None:
    """20 concurrent callers on a cold cache: 1 miss, 19 coalesced; then hot calls are hits."""
    world.server.faults.latency = 0.05  # the callers overlap while the refresh is in flight
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(CALLERS):
                tg.start_soon(world.cache.token)
    for _ in range(5):
        await world.cache.token()
    counts = telemetry.values(REQUESTS, identity(world), "tokensources.outcome")
    assert counts == {"hit": 5, "soft_window_hit": 0, "miss": 1, "coalesced": 19, "cooldown": 0}
    waits = telemetry.values("tokensources.lock.waits", identity(world), "tokensources.scope")
    assert waits == {"process": 19}
    assert world.server.counters.token_requests == 1


async def test_fresh_reads_from_other_clients_count_as_hits(
    world: World, telemetry: Telemetry
) -> None:
    """fresh() (what TokenAuth and blocking() use) counts a hit when it hands out a token."""
    await world.cache.token()
    assert world.cache.fresh() is not None
    assert telemetry.values(REQUESTS, identity(world), "tokensources.outcome")["hit"] == 1


async def test_a_soft_window_failure_is_counted_logged_once_and_served_over(
    world: World, telemetry: Telemetry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """In the soft window, failed refreshes count by class, log once per streak, serve the token."""
    caplog.set_level(logging.INFO, logger="tokensources")
    token = await world.cache.token()
    clock.advance(world.server.token_lifetime - 300)  # inside buffer()'s 600 s soft window
    world.server.faults.fail_next(3, 503)
    for _ in range(3):
        assert await world.cache.token() is token  # the failure reaches nobody
        assert await world.cache.token() is token  # within the backoff: a soft-window hit
        clock.advance(31)  # past the longest backoff
    source = identity(world)
    failures = telemetry.values("tokensources.refresh.failures", source, "error.type")
    assert failures == {"TokenEndpointError": 3}
    assert telemetry.values("tokensources.cooldowns.active", source) == {None: 1}
    counts = telemetry.values(REQUESTS, source, "tokensources.outcome")
    assert counts["soft_window_hit"] == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert source in warnings[0].getMessage()
    assert token.fingerprint in warnings[0].getMessage()

    fresh = await world.cache.token()  # the fourth attempt succeeds
    assert fresh is not token
    assert telemetry.values("tokensources.cooldowns.active", source) == {None: 0}
    assert any("works again" in r.getMessage() for r in caplog.records)
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_an_error_raised_to_callers_is_not_also_logged(
    world: World, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    """With no token to serve, a failed refresh raises and logs nothing; the next call: cooldown."""
    caplog.set_level(logging.DEBUG, logger="tokensources")
    world.server.enqueue_error(400, "invalid_scope", description="scope not for you")
    for _ in range(2):
        with pytest.raises(TokenEndpointError):
            await world.cache.token()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "scope not for you" not in caplog.text
    counts = telemetry.values(REQUESTS, identity(world), "tokensources.outcome")
    assert (counts["miss"], counts["coalesced"], counts["cooldown"]) == (1, 0, 1)


async def test_remaining_lifetime_follows_the_cache_clock(
    world: World, telemetry: Telemetry, clock: FakeClock
) -> None:
    """The gauge reads the cached token's seconds left by the cache's own clock."""
    await world.cache.token()
    clock.advance(100)
    left = telemetry.values("tokensources.token.remaining_lifetime", identity(world))
    assert left == {None: pytest.approx(world.server.token_lifetime - 100, abs=1)}


async def test_attributes_never_name_the_client_the_url_the_scope_or_the_error(
    world: World, telemetry: Telemetry
) -> None:
    """Every attribute of every metric and span is free of client id, URL, scope and error text."""
    world.server.enqueue_error(400, "invalid_scope", description="scope-text-never-shown")
    with pytest.raises(TokenEndpointError):
        await world.cache.token()
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    attributes = [
        dict(point.attributes or {})
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    attributes += [dict(span.attributes or {}) for span in telemetry.finished()]
    attributes += [{"status": span.status.description} for span in telemetry.finished()]
    shown = repr(attributes)
    assert identity(world) in shown
    for secret in (world.client_id, world.server.token_endpoint, "testserver", SCOPE, SECRET):
        assert secret not in shown
    assert "scope-text-never-shown" not in shown
    assert "invalid_scope" not in shown


async def test_after_uninstrument_nothing_is_observed(world: World, telemetry: Telemetry) -> None:
    """uninstrument() turns the observable instruments off: a collection sees nothing new."""
    await world.cache.token()
    telemetry.instrumentation.uninstrument()
    telemetry.instrumentation.uninstrument()  # idempotent
    assert telemetry.points(REQUESTS) == []


async def test_events_of_components_without_a_cache_are_counted(telemetry: Telemetry) -> None:
    """count_event() (the fleet's lock waits, DPoP nonce retries) feeds its own metrics."""
    from tokensources.wrappers._hooks import count_event, event_counts

    before = event_counts()
    count_event("lock_wait")
    count_event("dpop_nonce_retry")
    count_event("dpop_nonce_retry")
    count_event("dpop_bearer_answer")
    fleet = [
        point.value
        for point in telemetry.points("tokensources.lock.waits")
        if point.attributes.get("tokensources.scope") == "fleet"
    ]
    retries = [point.value for point in telemetry.points("tokensources.dpop.nonce_retries")]
    bearer = [point.value for point in telemetry.points("tokensources.dpop.bearer_answers")]
    assert fleet == [before.get("lock_wait", 0) + 1]
    assert retries == [before.get("dpop_nonce_retry", 0) + 2]
    assert bearer == [before.get("dpop_bearer_answer", 0) + 1]
