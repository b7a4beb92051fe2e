"""Guarantees 2 and 4: one inner call per refresh, however many callers wait for it."""

from __future__ import annotations

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import EventLog, ScriptedSource
from tokensources import ClientCredentials, Token, TokenEndpointError
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio


def in_flight(server: AuthorizationServer) -> None:
    """Give the server a network-like latency, so a request is in flight while callers arrive.

    In-process, an answer otherwise comes back without the event loop ever
    switching tasks, and the callers would not overlap at all.
    """
    server.faults.latency = 0.001


async def gather_tokens(cache: Reuse, callers: int) -> list[Token | BaseException]:
    """Run ``callers`` concurrent token() calls; collect each token or error."""
    results: list[Token | BaseException] = []

    async def call() -> None:
        try:
            results.append(await cache.token())
        except Exception as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(call)
    return results


async def test_ten_thousand_cold_callers_make_one_request(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock, events: EventLog
) -> None:
    """10 000 concurrent callers on an empty cache: one token request, one token for all."""
    in_flight(server)
    cache = reuse(credentials, clock=clock, on_event=events)
    with anyio.fail_after(30):
        results = await gather_tokens(cache, 10_000)
    assert server.counters.token_requests == 1
    assert len(results) == 10_000
    assert len({id(result) for result in results}) == 1
    assert isinstance(results[0], Token)
    # Every caller found the cache empty and waited: the calls really overlapped.
    assert events.count("cache_miss") == 10_000
    assert events.count("refresh_started") == 1


async def test_ten_thousand_callers_after_hard_expiry_make_one_request(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock, events: EventLog
) -> None:
    """10 000 concurrent callers just after hard expiry: one more request, the new token for all."""
    cache = reuse(credentials, clock=clock, on_event=events)
    with anyio.fail_after(30):
        old = await cache.token()
        assert old.expires_at is not None
        clock.now = old.expires_at - 10  # the default skew: hard expiry starts here
        in_flight(server)
        results = await gather_tokens(cache, 10_000)
    assert server.counters.token_requests == 2
    assert {id(result) for result in results} == {id(results[0])}
    assert isinstance(results[0], Token)
    assert results[0].access_token != old.access_token
    assert events.count("cache_miss") == 1 + 10_000


async def test_one_failed_refresh_fails_every_waiter_with_its_error(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock, events: EventLog
) -> None:
    """1 000 callers waiting on a refresh that fails: one request, the same error for all."""
    server.faults.fail_next(1, 503)
    in_flight(server)
    cache = reuse(credentials, clock=clock, on_event=events)
    with anyio.fail_after(30):
        results = await gather_tokens(cache, 1_000)
    assert server.counters.token_requests == 1
    assert len(results) == 1_000
    assert all(isinstance(result, TokenEndpointError) for result in results)
    assert len({id(result) for result in results}) == 1
    assert cache.peek() is None
    assert events.count("cache_miss") == 1_000


async def test_failed_refresh_after_hard_expiry_fails_every_waiter(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """Hard-expired token and a failing endpoint: 1 000 waiters, one request, one error."""
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(30):
        await cache.token()
        clock.advance(3600)
        server.faults.fail_next(1, 500)
        in_flight(server)
        results = await gather_tokens(cache, 1_000)
    assert server.counters.token_requests == 2
    assert all(isinstance(result, TokenEndpointError) for result in results)
    assert {result.status_code for result in results if isinstance(result, TokenEndpointError)} == {
        500
    }


async def test_a_failed_refresh_is_not_cached(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """After a failed refresh with no token to serve, the first call after the backoff retries."""
    server.faults.fail_next(1, 503)
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        with pytest.raises(TokenEndpointError):
            await cache.token()
        clock.advance(1.0)  # the first backoff lasts at most failure_backoff (guarantee 8)
        token = await cache.token()
    assert server.counters.token_requests == 2
    assert cache.peek() is token


async def test_waiters_share_the_error_with_its_original_traceback(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """Re-raising one error in many waiters does not pile their tracebacks onto it."""
    scripted.errors.append(TokenEndpointError("boom", status_code=503))
    scripted.hold()
    cache = reuse(scripted, clock=clock)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await cache.token()
        except TokenEndpointError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            scripted.release()
    assert scripted.calls == 1
    assert len(errors) == 200
    assert len({id(error) for error in errors}) == 1
    depth = 0
    tb = errors[-1].__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth < 20


async def test_hard_expiry_waits_for_the_refresh(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """Past hard expiry no caller is handed the old token: all wait for the new one."""
    cache = reuse(scripted, clock=clock)
    with anyio.fail_after(10):
        old = await cache.token()
        clock.advance(3600 - 10)
        scripted.hold()
        results: list[Token] = []

        async def call() -> None:
            results.append(await cache.token())

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert results == []  # everybody is waiting
            scripted.release()
    assert scripted.calls == 2
    assert len(results) == 100
    assert all(result is results[0] and result != old for result in results)
