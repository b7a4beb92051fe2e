"""Guarantee 1: while a token is fresh, token() takes no lock, makes no I/O, never suspends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import EventLog, ScriptedSource
from tokensources import ClientCredentials
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import buffer, retry, reuse

pytestmark = pytest.mark.anyio


class SyncPrimitiveCounter:
    """Counts every anyio synchronisation primitive created while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created: list[str] = []
        for name in ("Event", "Lock", "Semaphore", "Condition", "CapacityLimiter"):
            monkeypatch.setattr(anyio, name, self._counting(name, getattr(anyio, name)))

    def _counting(self, name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            self.created.append(name)
            return factory(*args, **kwargs)

        return create


async def test_fresh_token_costs_no_request_lock_or_event(
    server: AuthorizationServer,
    credentials: ClientCredentials,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """10 000 calls on a fresh token make no request and create no lock or event."""
    cache = reuse(buffer(retry(credentials), clock=clock), clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
        counter = SyncPrimitiveCounter(monkeypatch)
        clock.advance(1000)
        for _ in range(10_000):
            assert await cache.token() is first
    assert server.counters.token_requests == 1
    assert counter.created == []


async def test_fresh_token_is_returned_without_suspending(
    credentials: ClientCredentials, clock: FakeClock
) -> None:
    """The token() coroutine of a fresh token completes on its first step, so it cannot wait."""
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
    coro = cache.token()
    with pytest.raises(StopIteration) as finished:
        coro.send(None)
    assert finished.value.value is first


async def test_a_due_token_does_suspend(scripted: ScriptedSource, clock: FakeClock) -> None:
    """The check above can fail: with the token due, the first step suspends, not finishes."""
    cache = reuse(scripted, clock=clock)
    with anyio.fail_after(10):
        await cache.token()
    clock.advance(3600)
    scripted.hold()
    coro = cache.token()
    try:
        coro.send(None)  # would raise StopIteration if token() finished without waiting
    finally:
        coro.close()
    assert scripted.calls == 2
    assert cache.peek() is not None


async def test_cache_hit_events_only_with_a_hook(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock, events: EventLog
) -> None:
    """With an on_event hook, each fresh call reports one cache_hit and still makes no request."""
    cache = reuse(credentials, clock=clock, on_event=events)
    with anyio.fail_after(10):
        for _ in range(100):
            await cache.token()
    assert server.counters.token_requests == 1
    assert events.count("cache_miss") == 1
    assert events.count("refresh_succeeded") == 1
    assert events.count("cache_hit") == 99
