"""Guarantee 8: after a failed refresh, no new one until a backoff; meanwhile, its error at once."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import EventLog, ScriptedSource
from tokensources import (
    ClientCredentials,
    Token,
    TokenEndpointError,
    TokenRequestError,
    TokenSource,
)
from tokensources.testing import DEMO_CLIENT_ID, AuthorizationServer
from tokensources.verify import JWTVerifier
from tokensources.wrappers import Sleep, buffer, retry, reuse

pytestmark = pytest.mark.anyio

REVOKED_SECRET = "revoked-secret-4f0c9e"  # a secret the testing server does not know


def fake_sleep(clock: FakeClock) -> Sleep:
    """An async sleep that moves the fake clock instead of waiting."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    return sleep


async def outcome(cache: TokenSource) -> Token | BaseException:
    """One token() call's token, or its error."""
    try:
        return await cache.token()
    except Exception as exc:
        return exc


async def call_many(cache: TokenSource, calls: int) -> list[Token | BaseException]:
    """Make ``calls`` sequential token() calls; collect each token or error."""
    return [await outcome(cache) for _ in range(calls)]


async def test_a_revoked_secret_is_tried_once_per_backoff(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """200 calls with a refused secret: one attempt (both auth styles), one invalid_client."""
    source = ClientCredentials(
        server.token_endpoint,
        DEMO_CLIENT_ID,
        REVOKED_SECRET,
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    cache = reuse(source, clock=clock)
    with anyio.fail_after(10):
        results = await call_many(cache, 200)
        assert server.counters.token_requests == 2  # HTTP Basic, then the form (AUTO)
        first = results[0]
        assert isinstance(first, TokenEndpointError)
        assert all(result is first for result in results)
        assert first.error == "invalid_client"
        assert not first.transient
        assert REVOKED_SECRET not in f"{first} {first!r} {first.previous}"
        clock.advance(1.0)  # the first backoff lasts at most failure_backoff
        with pytest.raises(TokenEndpointError) as again:
            await cache.token()
    assert again.value is not first  # a new attempt (AUTO may skip a style it saw refused)
    assert server.counters.token_requests in (3, 4)


@pytest.mark.parametrize(("attempts", "requests"), [(1, 1), (4, 4)], ids=["alone", "retry"])
async def test_a_failing_endpoint_is_tried_once_per_backoff(
    server: AuthorizationServer,
    credentials: ClientCredentials,
    clock: FakeClock,
    attempts: int,
    requests: int,
) -> None:
    """200 calls against a 503 endpoint make one refresh (4 requests under retry()), not 200."""
    server.faults.fail_next(10_000, 503)
    inner = retry(credentials, attempts=attempts, sleep=fake_sleep(clock))
    cache = reuse(inner, clock=clock)
    with anyio.fail_after(10):
        results = await call_many(cache, 200)
    assert server.counters.token_requests == requests
    first = results[0]
    assert isinstance(first, TokenEndpointError)
    assert all(result is first for result in results)
    assert first.status_code == 503
    assert first.transient


async def test_callers_during_the_backoff_get_the_error_without_waiting(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """1 000 concurrent callers in the backoff get the error at once; after it, one call for all."""
    refused = TokenRequestError("connection refused", url="https://idp.example.com/token")
    scripted.errors.append(refused)
    cache = reuse(scripted, clock=clock)
    errors: list[TokenRequestError] = []
    tokens: list[Token] = []

    async def call() -> None:
        try:
            tokens.append(await cache.token())
        except TokenRequestError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        with pytest.raises(TokenRequestError):
            await cache.token()
        scripted.hold()  # a caller that called the source now would hang
        async with anyio.create_task_group() as tg:
            for _ in range(1_000):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert len(errors) == 1_000
            scripted.release()
        assert all(error is refused for error in errors)
        assert errors[0].transient
        assert scripted.calls == 1
        clock.advance(1.0)
        scripted.hold()
        async with anyio.create_task_group() as tg:
            for _ in range(1_000):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 2  # single flight again once the backoff is over
            scripted.release()
    assert len(tokens) == 1_000
    assert all(token is tokens[0] for token in tokens)


async def test_the_backoff_grows_is_bounded_and_resets_on_success(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """Waits double from failure_backoff up to 30 s, jittered in the upper half; a token resets."""
    cache = reuse(scripted, clock=clock, failure_backoff=1.0)
    boom = TokenRequestError("timed out")
    with anyio.fail_after(10):
        for failures in range(1, 9):
            scripted.errors.append(boom)
            with pytest.raises(TokenRequestError):
                await cache.token()
            assert scripted.calls == failures
            longest = min(30.0, 2.0 ** (failures - 1))
            clock.advance(longest / 2 - 0.01)  # before the shortest jittered wait ends
            with pytest.raises(TokenRequestError):
                await cache.token()
            assert scripted.calls == failures
            clock.advance(longest / 2 + 0.01)  # after the longest one ended
        token = await cache.token()
        assert scripted.calls == 9
        clock.advance(3600)  # hard expiry: the next failure is the first again
        scripted.errors.append(boom)
        with pytest.raises(TokenRequestError):
            await cache.token()
        clock.advance(1.0)
        fresh = await cache.token()
    assert scripted.calls == 11
    assert fresh != token


async def test_the_backoff_honours_retry_after(
    server: AuthorizationServer, credentials: ClientCredentials, clock: FakeClock
) -> None:
    """A 429 asking for 5 s of quiet gets them: its error until then, then one request."""
    server.faults.fail_next(1, 429, retry_after=5)
    cache = reuse(credentials, clock=clock)
    with anyio.fail_after(10):
        with pytest.raises(TokenEndpointError) as first:
            await cache.token()
        clock.advance(4.99)
        with pytest.raises(TokenEndpointError) as later:
            await cache.token()
        assert later.value is first.value
        assert server.counters.token_requests == 1
        clock.advance(0.01)
        await cache.token()
    assert server.counters.token_requests == 2


async def test_invalidate_and_refresh_end_the_backoff(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """A rejected token is replaced at once despite a backoff; refresh() ignores the backoff too."""
    cache = reuse(buffer(scripted, 300, jitter=0, clock=clock), clock=clock)
    with anyio.fail_after(10):
        current = await cache.token()
        assert current.refresh_at is not None
        clock.now = current.refresh_at
        scripted.errors.append(TokenRequestError("timed out"))
        assert await cache.token() is current  # the soft refresh fails: backoff
        cache.invalidate(current)  # the API said 401: the token is gone
        replacement = await cache.token()
        assert scripted.calls == 3
        cache.invalidate(replacement)
        scripted.errors.append(TokenRequestError("timed out"))
        with pytest.raises(TokenRequestError):
            await cache.token()
        assert scripted.calls == 4
        forced = await cache.refresh()  # within the backoff, still one call
        assert await cache.token() is forced  # and the new token ends the backoff
    assert scripted.calls == 5


async def test_backoff_rejections_are_reported_as_cooldown_events(
    scripted: ScriptedSource, clock: FakeClock, events: EventLog
) -> None:
    """Each caller answered from the backoff reports cache_miss then cooldown with the error."""
    refused = TokenRequestError("connection refused")
    scripted.errors.append(refused)
    cache = reuse(scripted, clock=clock, on_event=events)
    with anyio.fail_after(10):
        for _ in range(3):
            with pytest.raises(TokenRequestError):
                await cache.token()
    kinds = [event.kind for event in events.events]
    assert kinds == [
        "cache_miss",
        "refresh_started",
        "refresh_failed",
        "cache_miss",
        "cooldown",
        "cache_miss",
        "cooldown",
    ]
    assert all(event.error is refused for event in events.events if event.kind == "cooldown")


async def test_a_cold_key_cache_with_the_jwks_down_fetches_once_per_backoff(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """200 verifications with the JWKS endpoint down and no keys yet: one JWKS fetch, one error."""
    server.faults.jwks_fail_next(10_000, 503)
    verifier = JWTVerifier(
        server.issuer, server.audience, http=http, clock=clock, allow_insecure_http=True
    )
    token = server.issue_token()
    errors: list[TokenEndpointError] = []
    with anyio.fail_after(10):
        for _ in range(200):
            with pytest.raises(TokenEndpointError) as caught:
                await verifier.verify(token)
            errors.append(caught.value)
    assert server.counters.jwks_requests == 1
    assert server.counters.discovery_requests == 1
    assert all(error is errors[0] and error.transient for error in errors)
