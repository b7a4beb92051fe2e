"""Guarantees 6 and 7 and the rest of reuse(): invalidate, refresh, idempotence, expiry, hooks."""

from __future__ import annotations

import logging

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import EventLog, ScriptedSource
from tokensources import ClientCredentials, ConfigError, Token, TokenEvent
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import Reuse, buffer, reuse

pytestmark = pytest.mark.anyio


async def test_invalidate_drops_the_cached_token(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """invalidate() of the cached token makes the next call fetch a new one."""
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
        cache.invalidate(first)
        assert cache.peek() is None
        second = await cache.token()
    assert server.counters.token_requests == 2
    assert second.access_token != first.access_token


async def test_invalidate_of_a_stale_token_keeps_the_newer_one(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """A late invalidate() about an older token leaves the newer cached token in place."""
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        old = await cache.token()
        cache.invalidate(old)
        new = await cache.token()
        cache.invalidate(old)  # a 401 for a request that used the old token, arriving late
        assert cache.peek() is new
        assert await cache.token() is new
    assert server.counters.token_requests == 2


async def test_invalidate_compares_access_tokens_and_passes_down(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """A copy of the cached token invalidates it, and the report reaches the inner source."""
    cache = reuse(scripted, clock=clock)
    with anyio.fail_after(10):
        cached = await cache.token()
    copy = cached.replace(refresh_at=123.0)
    cache.invalidate(copy)
    assert cache.peek() is None
    assert scripted.invalidated == [copy]


async def test_reuse_of_a_reuse_is_the_same_cache(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """reuse(reuse(src)) is the very same object, so 100 callers through either make one request."""
    inner = reuse(credentials, clock=clock)
    outer = reuse(inner, clock=clock)
    assert outer is inner
    server.faults.latency = 0.001  # keep the request in flight while the callers arrive
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for index in range(100):
                tg.start_soon((outer if index % 2 else inner).token)
    assert server.counters.token_requests == 1


async def test_reuse_with_other_settings_never_nests(
    credentials: ClientCredentials, clock: FakeClock
) -> None:
    """reuse() of a Reuse with other settings caches its inner source; so does Reuse(Reuse)."""
    inner = reuse(credentials, clock=clock)
    other = reuse(inner, skew=5, clock=clock)
    assert other is not inner
    assert other.source is credentials
    assert Reuse(Reuse(credentials)).source is credentials


async def test_short_tokens_keep_a_usable_life(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """A 5-second token with skew=10 is used for 4.5 s (skew clamped to a tenth of its life)."""
    server.token_lifetime = 5
    cache = reuse(credentials, clock=clock, skew=10)
    with anyio.fail_after(10):
        first = await cache.token()
        clock.advance(4.4)
        assert await cache.token() is first
        assert server.counters.token_requests == 1
        clock.advance(0.1)
        second = await cache.token()
    assert server.counters.token_requests == 2
    assert second is not first


async def test_skew_applies_in_full_to_long_tokens(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """An hour-long token stops being served exactly skew seconds before expiry."""
    cache = reuse(credentials, clock=clock, skew=30)
    with anyio.fail_after(10):
        first = await cache.token()
        clock.advance(3600 - 30 - 0.01)
        assert await cache.token() is first
        clock.advance(0.01)
        assert await cache.token() is not first
    assert server.counters.token_requests == 2


async def test_token_without_expiry_is_kept_until_invalidated(clock: FakeClock) -> None:
    """A token of unknown expiry is served for ever (a day here) until it is invalidated."""
    source = ScriptedSource(clock, lifetime=None)
    cache = reuse(source, clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
        clock.advance(86_400)
        assert await cache.token() is first
        cache.invalidate(first)
        assert await cache.token() is not first
    assert source.calls == 2


async def test_max_age_limits_how_long_a_token_is_kept(clock: FakeClock) -> None:
    """With max_age, a token (of unknown or long expiry) is refreshed once it is that old."""
    source = ScriptedSource(clock, lifetime=None)
    cache = reuse(source, clock=clock, max_age=600)
    with anyio.fail_after(10):
        first = await cache.token()
        clock.advance(599.9)
        assert await cache.token() is first
        clock.advance(0.1)
        assert await cache.token() is not first
    assert source.calls == 2


async def test_a_token_arriving_already_due_is_not_fetched_on_every_call(
    clock: FakeClock,
) -> None:
    """If the inner source hands back a token already due for refresh, refreshes back off."""
    source = ScriptedSource(clock, lifetime=3600)

    class AlreadyDue:
        async def token(self) -> Token:
            token = await source.token()
            return token.replace(refresh_at=clock() - 1)

        def invalidate(self, token: Token) -> None:
            source.invalidate(token)

    cache = reuse(AlreadyDue(), clock=clock, failure_backoff=1.0)
    with anyio.fail_after(10):
        first = await cache.token()
        for _ in range(100):
            assert await cache.token() is first
        clock.advance(1.0)
        assert await cache.token() is not first
    assert source.calls == 2


async def test_hooks_see_each_refresh_once(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock, events: EventLog
) -> None:
    """on_token gets each new token once; on_event reports started, succeeded, failed and misses."""
    seen: list[Token] = []
    cache = reuse(credentials, clock=clock, on_event=events, on_token=seen.append)
    with anyio.fail_after(10):
        first = await cache.token()
        await cache.token()
        clock.advance(3600)
        server.faults.fail_next(1, 503)
        with pytest.raises(Exception, match="503"):
            await cache.token()
        clock.advance(1.0)  # past the failure backoff
        second = await cache.token()
    assert seen == [first, second]
    kinds = [event.kind for event in events.events]
    assert kinds == [
        "cache_miss",
        "refresh_started",
        "refresh_succeeded",
        "cache_hit",
        "cache_miss",
        "refresh_started",
        "refresh_failed",
        "cache_miss",
        "refresh_started",
        "refresh_succeeded",
    ]
    failed = events.events[6]
    assert failed.error is not None
    assert all(event.source == "reuse" for event in events.events)


async def test_a_raising_hook_does_not_break_the_cache(
    server: AuthorizationServer,
    credentials: ClientCredentials,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hooks that raise are logged and ignored; callers still get their token."""
    caplog.set_level(logging.ERROR, logger="tokensources")

    def broken_event(event: TokenEvent) -> None:
        raise RuntimeError("hook bug")

    def broken_token(token: Token) -> None:
        raise RuntimeError("hook bug")

    cache = reuse(credentials, clock=clock, on_event=broken_event, on_token=broken_token)
    with anyio.fail_after(10):
        token = await cache.token()
        assert await cache.token() is token
    assert server.counters.token_requests == 1
    assert "on_token callback raised" in caplog.text
    assert "on_event hook raised" in caplog.text
    assert token.access_token not in caplog.text


async def test_aclose_closes_the_inner_source(scripted: ScriptedSource, clock: FakeClock) -> None:
    """Leaving the cache's context closes the inner source."""
    async with reuse(scripted, clock=clock) as cache:
        await cache.token()
    assert scripted.closed


async def test_repr_names_the_token_only_by_fingerprint(
    credentials: ClientCredentials, clock: FakeClock
) -> None:
    """repr() shows the cached token's fingerprint, never the token."""
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        token = await cache.token()
    assert token.fingerprint in repr(cache)
    assert token.access_token not in repr(cache)


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"skew": -1}, "skew"),
        ({"skew": float("nan")}, "skew"),
        ({"max_age": 0}, "max_age"),
        ({"failure_backoff": 0}, "failure_backoff"),
        ({"failure_backoff": True}, "failure_backoff"),
    ],
)
def test_bad_settings_are_refused(
    scripted: ScriptedSource, settings: dict[str, float], name: str
) -> None:
    """Out-of-range settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=name):
        reuse(scripted, **settings)  # type: ignore[arg-type]


def test_a_cache_can_serve_successive_event_loops(clock: FakeClock) -> None:
    """One Reuse serves asyncio, then trio, then asyncio again, with waiters in each loop."""
    source = ScriptedSource(clock, steps=3)
    cache = reuse(source, clock=clock)
    seen: list[Token] = []

    async def ten_callers() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(lambda: _append(seen, cache))

    for backend in ("asyncio", "trio", "asyncio"):
        anyio.run(ten_callers, backend=backend)
        clock.advance(3600)
    assert source.calls == 3
    assert len(seen) == 30
    assert len({token.access_token for token in seen}) == 3


async def _append(seen: list[Token], cache: Reuse) -> None:
    seen.append(await cache.token())


async def test_reuse_without_settings_keeps_a_cache_with_any_settings(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """reuse() without settings returns a cache built with a hook and other settings unchanged."""
    tokens: list[Token] = []
    app_cache = reuse(credentials, skew=5, clock=clock, on_token=tokens.append)
    assert reuse(app_cache) is app_cache
    assert reuse(app_cache, skew=5) is app_cache  # the same setting, given again
    other = reuse(app_cache, skew=7)
    assert other is not app_cache
    assert other.source is credentials
    server.faults.latency = 0.001  # keep the request in flight while the callers arrive
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for index in range(20):
                tg.start_soon((reuse(app_cache) if index % 2 else app_cache).token)
    assert server.counters.token_requests == 1
    assert len(tokens) == 1


async def test_fresh_answers_only_while_the_hot_path_would(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """fresh() is the cached token before its refresh point, else None, and never fetches."""
    cache = reuse(scripted, clock=clock)
    assert cache.fresh() is None
    with anyio.fail_after(10):
        token = await cache.token()
    assert cache.fresh() is token
    assert token.expires_at is not None
    clock.advance(token.expires_at - clock())  # past its refresh point
    assert cache.fresh() is None
    assert scripted.calls == 1
    with_hook = reuse(scripted, clock=clock, on_event=lambda event: None)
    with anyio.fail_after(10):
        await with_hook.token()
    assert with_hook.fresh() is None  # token() reports every hit; fresh() never does


async def test_fresh_is_none_after_invalidate(scripted: ScriptedSource, clock: FakeClock) -> None:
    """An invalidated token is no longer fresh."""
    cache = reuse(scripted, clock=clock)
    with anyio.fail_after(10):
        token = await cache.token()
    cache.invalidate(token)
    assert cache.fresh() is None


async def test_refresh_replaces_a_fresh_token(scripted: ScriptedSource, clock: FakeClock) -> None:
    """refresh() calls the inner source even while the cached token is fresh, and caches it."""
    cache = reuse(scripted, clock=clock)
    with anyio.fail_after(10):
        first = await cache.token()
        second = await cache.refresh()
        assert await cache.token() is second
    assert (first.access_token, second.access_token) == ("token-1", "token-2")
    assert scripted.calls == 2


async def test_refresh_joins_the_refresh_under_way_while_others_keep_the_cached_token(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """Concurrent refresh() calls share one inner call; token() meanwhile returns the cached one."""
    cache = reuse(buffer(scripted, 600, jitter=0, clock=clock), clock=clock)
    results: list[Token] = []
    with anyio.fail_after(10):
        cached = await cache.token()
        scripted.hold()
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(_refresh_into, results, cache)
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 2  # one refresh for the three callers
            assert await cache.token() is cached
            clock.advance(3300)  # in the soft window too, nobody waits for it
            assert await cache.token() is cached
            assert results == []
            scripted.release()
    assert [token.access_token for token in results] == ["token-2"] * 3
    assert cache.peek() is results[0]
    assert scripted.calls == 2


async def test_a_failed_refresh_raises_and_keeps_the_cached_token(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """A failed refresh() raises its error to every joiner; the cached token stays and is served."""
    cache = reuse(scripted, clock=clock)
    boom = RuntimeError("the endpoint is down")
    errors: list[BaseException] = []

    async def refresh() -> None:
        try:
            await cache.refresh()
        except RuntimeError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        cached = await cache.token()
        scripted.errors.append(boom)
        scripted.hold()
        async with anyio.create_task_group() as tg:
            tg.start_soon(refresh)
            tg.start_soon(refresh)
            await anyio.wait_all_tasks_blocked()
            scripted.release()
        assert errors == [boom, boom]
        assert cache.peek() is cached
        assert await cache.token() is cached
    assert scripted.calls == 2


async def test_cancelling_the_refresher_does_not_hang_the_joiners(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """When the caller running refresh() is cancelled, a joiner starts a new refresh and gets it."""
    cache = reuse(scripted, clock=clock)
    results: list[Token] = []
    scopes: list[anyio.CancelScope] = []

    async def cancelled_refresher() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await cache.refresh()

    with anyio.fail_after(10):
        cached = await cache.token()
        scripted.hold()
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancelled_refresher)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(_refresh_into, results, cache)
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 2  # the joiner waits for the refresher's call
            scopes[0].cancel()
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 3  # the joiner took over
            assert await cache.token() is cached
            scripted.release()
    assert [token.access_token for token in results] == ["token-3"]
    assert cache.peek() is results[0]


async def _refresh_into(results: list[Token], cache: Reuse) -> None:
    results.append(await cache.refresh())
