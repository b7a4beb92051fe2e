"""A token arriving already expired is a failed refresh: an error and a backoff, not that token."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources import AuthStyle, ClientCredentials, Token, TokenExpiredError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import buffer, reuse

pytestmark = pytest.mark.anyio


async def test_an_expired_token_is_an_error_and_the_source_is_not_called_on_every_call(
    clock: FakeClock,
) -> None:
    """A source handing out tokens 5 s past expiry: a TokenExpiredError, one call per backoff."""
    source = ScriptedSource(clock, lifetime=-5)
    cache = reuse(source, clock=clock)
    errors: list[TokenExpiredError] = []
    with anyio.fail_after(10):
        for _ in range(200):
            with pytest.raises(TokenExpiredError) as caught:
                await cache.token()
            errors.append(caught.value)
        assert source.calls == 1
        clock.advance(1.0)
        with pytest.raises(TokenExpiredError):
            await cache.token()
    assert source.calls == 2
    assert all(error is errors[0] for error in errors)
    message = str(errors[0])
    assert "expired" in message
    assert Token("token-1").fingerprint in message
    assert "token-1" not in message
    assert cache.peek() is None


async def test_a_lifetime_shorter_than_the_request_is_an_error(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """expires_in of 1 s on a request that takes 2 s: the token is never served; one request."""
    server.token_lifetime = 1

    async def two_seconds_in_flight(response: httpx.Response) -> None:
        clock.advance(2)

    async with server.client(event_hooks={"response": [two_seconds_in_flight]}) as http:
        source = ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            http=http,
            clock=clock,
            auth_style=AuthStyle.HEADER,
            allow_insecure_http=True,
        )
        cache = reuse(source, clock=clock)
        with anyio.fail_after(10):
            for _ in range(100):
                with pytest.raises(TokenExpiredError):
                    await cache.token()
    assert server.counters.token_requests == 1


async def test_every_waiter_gets_the_same_error(scripted: ScriptedSource, clock: FakeClock) -> None:
    """100 callers waiting on a refresh that brings an expired token share one TokenExpiredError."""
    scripted.lifetime = -1
    scripted.hold()
    cache = reuse(scripted, clock=clock)
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await cache.token()
        except TokenExpiredError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            scripted.release()
    assert scripted.calls == 1
    assert len(errors) == 100
    assert all(error is errors[0] for error in errors)


async def test_a_still_valid_token_outlives_an_expired_replacement(
    scripted: ScriptedSource, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """In the soft window an expired replacement is logged and dropped; the current token stays."""
    caplog.set_level(logging.WARNING, logger="tokensources")
    cache = reuse(buffer(scripted, 300, jitter=0, clock=clock), clock=clock)
    with anyio.fail_after(10):
        current = await cache.token()
        assert current.refresh_at is not None
        clock.now = current.refresh_at
        scripted.lifetime = -1
        for _ in range(100):
            assert await cache.token() is current
    assert scripted.calls == 2
    assert cache.peek() is current
    assert "TokenExpiredError" in caplog.text
    assert current.fingerprint in caplog.text
    assert "token-2" not in caplog.text
