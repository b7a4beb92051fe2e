"""Guarantee 3: in the soft window one caller refreshes and nobody else waits."""

from __future__ import annotations

import logging

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import EventLog, ScriptedSource
from tokensources import ClientCredentials, Token, TokenEndpointError
from tokensources.testing import DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, buffer, reuse

pytestmark = pytest.mark.anyio


@pytest.fixture
def gated(credentials: ClientCredentials, clock: FakeClock) -> ScriptedSource:
    """The real source behind a gate the test opens, to hold a refresh in flight."""
    return ScriptedSource(clock, inner=credentials)


def soft_cache(inner: ScriptedSource, clock: FakeClock, events: EventLog | None = None) -> Reuse:
    """reuse(buffer(...)) with a 300 s buffer and no jitter, on the fake clock."""
    return reuse(buffer(inner, 300, jitter=0, clock=clock), clock=clock, on_event=events)


async def enter_soft_window(cache: Reuse, clock: FakeClock) -> Token:
    """Fetch a first token and move the clock to its refresh point."""
    token = await cache.token()
    assert token.refresh_at is not None
    assert token.expires_at is not None
    clock.now = token.refresh_at
    return token


async def test_one_refresh_and_nobody_else_waits(
    server: AuthorizationServer, gated: ScriptedSource, clock: FakeClock, events: EventLog
) -> None:
    """1 000 callers in the soft window: 1 refresh; 999 get the current token while it runs."""
    cache = soft_cache(gated, clock, events)
    results: list[Token] = []

    async def call() -> None:
        results.append(await cache.token())

    with anyio.fail_after(20):
        current = await enter_soft_window(cache, clock)
        gated.hold()
        async with anyio.create_task_group() as tg:
            for _ in range(1_000):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            # The refresh is still held, yet 999 callers already have their answer.
            assert len(results) == 999
            assert all(result is current for result in results)
            gated.release()
    assert server.counters.token_requests == 2
    assert events.count("refresh_started") == 2
    assert len(results) == 1_000
    fresh = results[-1]
    assert fresh.access_token != current.access_token
    assert cache.peek() is fresh


async def test_failed_refresh_keeps_serving_the_valid_token(
    server: AuthorizationServer,
    credentials: ClientCredentials,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refresh failing in the soft window is logged and the still-valid token is served."""
    caplog.set_level(logging.WARNING, logger="tokensources")
    cache = reuse(buffer(credentials, 300, jitter=0, clock=clock), clock=clock)
    with anyio.fail_after(10):
        current = await enter_soft_window(cache, clock)
        server.faults.fail_next(1, 503)
        results = [await cache.token() for _ in range(1_000)]
    assert all(result is current for result in results)
    assert server.counters.token_requests == 2
    warnings = [
        r for r in caplog.records if r.name == "tokensources" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "refresh failed" in warnings[0].getMessage()
    assert current.fingerprint in warnings[0].getMessage()
    assert current.access_token not in caplog.text
    assert DEMO_CLIENT_SECRET not in caplog.text


async def test_next_attempt_waits_for_the_backoff(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """After a failed soft refresh no request is made until the (jittered) backoff has passed."""
    cache = reuse(buffer(credentials, 300, jitter=0, clock=clock), clock=clock, failure_backoff=1.0)
    with anyio.fail_after(10):
        current = await enter_soft_window(cache, clock)
        server.faults.fail_next(2, 503)
        assert await cache.token() is current  # first failure: backoff in [0.5, 1.0] s
        clock.advance(0.49)
        for _ in range(100):
            assert await cache.token() is current
        assert server.counters.token_requests == 2
        clock.advance(0.51)
        assert await cache.token() is current  # second failure: backoff in [1.0, 2.0] s
        assert server.counters.token_requests == 3
        clock.advance(0.99)
        assert await cache.token() is current
        assert server.counters.token_requests == 3
        clock.advance(1.01)
        fresh = await cache.token()
    assert server.counters.token_requests == 4
    assert fresh.access_token != current.access_token


async def test_failed_refresh_after_hard_expiry_is_raised(
    server: AuthorizationServer, gated: ScriptedSource, clock: FakeClock
) -> None:
    """A soft refresh failing after the token hard-expired raises: no expired token is served."""
    cache = soft_cache(gated, clock)
    outcome: list[BaseException] = []

    async def call() -> None:
        try:
            await cache.token()
        except TokenEndpointError as exc:
            outcome.append(exc)

    with anyio.fail_after(10):
        current = await enter_soft_window(cache, clock)
        gated.hold()
        server.faults.fail_next(1, 503)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert current.expires_at is not None
            clock.now = current.expires_at
            gated.release()
    assert len(outcome) == 1
    assert server.counters.token_requests == 2


async def test_waiters_past_hard_expiry_join_a_soft_refresh(
    server: AuthorizationServer, gated: ScriptedSource, clock: FakeClock
) -> None:
    """Callers arriving after hard expiry wait for the refresh under way: no second request."""
    cache = soft_cache(gated, clock)
    results: list[Token] = []

    async def call() -> None:
        results.append(await cache.token())

    with anyio.fail_after(10):
        current = await enter_soft_window(cache, clock)
        gated.hold()
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert current.expires_at is not None
            clock.now = current.expires_at
            for _ in range(100):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert results == []
            gated.release()
    assert server.counters.token_requests == 2
    assert len(results) == 101
    assert all(result is results[0] and result != current for result in results)
