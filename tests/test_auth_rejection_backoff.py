"""An API that rejects even a fresh token costs a handful of token requests, not one per request.

The API is a small app that answers 401 to every request until told to
accept (a wrong audience, a misconfigured gateway); tokens come from the
testing server. Time is a fake clock that only the test moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio

REQUESTS = 200
API = "https://api.example/private"


class _Gateway:
    """An API behind a gateway that rejects every token with 401 until ``accepting``."""

    def __init__(self) -> None:
        self.accepting = False
        self.requests = 0

    def status(self) -> int:
        self.requests += 1
        return 200 if self.accepting else 401

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI app, for ``httpx.AsyncClient``."""
        status = self.status()
        headers = [] if status == 200 else [(b"www-authenticate", b'Bearer error="invalid_token"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def wsgi(
        self, environ: dict[str, Any], start_response: Callable[..., object]
    ) -> Iterable[bytes]:
        """The WSGI app, for the sync ``httpx.Client``."""
        status = self.status()
        start_response("200 OK" if status == 200 else "401 Unauthorized", [])
        return [b""]


def _source(server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock) -> Reuse:
    credentials = ClientCredentials(
        server.token_endpoint,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        http=http,
        allow_insecure_http=True,
        clock=clock,
    )
    return reuse(credentials, clock=clock)


async def _statuses(api: httpx.AsyncClient, n: int, clock: FakeClock, step: float) -> list[int]:
    statuses = []
    for _ in range(n):
        statuses.append((await api.get(API)).status_code)
        clock.advance(step)
    return statuses


async def test_a_rejecting_api_costs_two_token_requests_within_the_backoff(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """200 requests to an API that rejects every token, in no time: 2 token requests, 201 calls."""
    gateway = _Gateway()
    auth = TokenAuth(_source(server, http, clock), clock=clock)
    transport = httpx.ASGITransport(app=gateway.asgi)
    with anyio.fail_after(30):
        async with httpx.AsyncClient(auth=auth, transport=transport) as api:
            statuses = await _statuses(api, REQUESTS, clock, 0.0)
    assert statuses == [401] * REQUESTS
    # The first request and its one resend with a fresh token; then no new token.
    assert server.counters.token_requests == 2
    assert gateway.requests == REQUESTS + 1


async def test_the_backoff_grows_while_the_api_keeps_rejecting(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """200 rejected requests over 100 seconds try a fresh token about once per doubling backoff."""
    gateway = _Gateway()
    auth = TokenAuth(_source(server, http, clock), clock=clock)
    transport = httpx.ASGITransport(app=gateway.asgi)
    with anyio.fail_after(30):
        async with httpx.AsyncClient(auth=auth, transport=transport) as api:
            statuses = await _statuses(api, REQUESTS, clock, 0.5)
    assert statuses == [401] * REQUESTS
    # Backoffs of 1, 2, 4, 8, 16, 30, 30 ... seconds (each jittered to 50-100 %).
    assert 7 <= server.counters.token_requests <= 13
    # Each fresh token was tried on one resend, and only then.
    assert gateway.requests == REQUESTS + server.counters.token_requests - 1


async def test_a_success_ends_the_backoff(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Once the API accepts a token again, its next 401 is answered with a fresh token at once."""
    gateway = _Gateway()
    auth = TokenAuth(_source(server, http, clock), clock=clock)
    transport = httpx.ASGITransport(app=gateway.asgi)
    with anyio.fail_after(30):
        async with httpx.AsyncClient(auth=auth, transport=transport) as api:
            assert (await api.get(API)).status_code == 401  # rejected, resent, rejected
            assert (await api.get(API)).status_code == 401  # in the backoff: no new token
            assert server.counters.token_requests == 2
            gateway.accepting = True
            assert (await api.get(API)).status_code == 200
            gateway.accepting = False
            response = await api.get(API)  # the backoff is over: a fresh token is tried
    assert [r.status_code for r in response.history] == [401]
    assert server.counters.token_requests == 3


async def test_a_rejecting_api_leaves_other_apis_alone(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The backoff is kept per API origin: another API's 401 still gets a fresh token."""
    rejecting, other = _Gateway(), _Gateway()
    auth = TokenAuth(_source(server, http, clock), clock=clock)
    mounts = {
        "https://api.example": httpx.ASGITransport(app=rejecting.asgi),
        "https://other.example": httpx.ASGITransport(app=other.asgi),
    }
    with anyio.fail_after(30):
        async with httpx.AsyncClient(auth=auth, mounts=mounts) as api:
            assert (await api.get(API)).status_code == 401
            assert server.counters.token_requests == 2
            response = await api.get("https://other.example/private")
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401]
    assert server.counters.token_requests == 3


async def test_the_backoff_is_logged_by_origin_without_the_token(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning names the API's origin and the pause, never the token or the path."""
    source = _source(server, http, clock)
    auth = TokenAuth(source, clock=clock)
    transport = httpx.ASGITransport(app=_Gateway().asgi)
    caplog.set_level(logging.WARNING, logger="tokensources")
    with anyio.fail_after(30):
        async with httpx.AsyncClient(auth=auth, transport=transport) as api:
            await api.get(f"{API}?user=secret-query-value")
    token = source.peek()
    assert token is not None
    assert "https://api.example rejected a fresh token" in caplog.text
    assert token.access_token not in caplog.text
    assert "secret-query-value" not in caplog.text


def test_the_sync_client_backs_off_too(clock: FakeClock) -> None:
    """200 sync requests to an API that rejects every token: 2 token requests, 201 calls."""
    server = AuthorizationServer(clock=clock)
    gateway = _Gateway()
    with server.serve_in_thread() as base:
        source = reuse(
            ClientCredentials(
                f"{base}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, clock=clock
            ),
            clock=clock,
        )
        transport = httpx.WSGITransport(app=gateway.wsgi)
        with (
            TokenAuth(source, clock=clock) as auth,
            httpx.Client(auth=auth, transport=transport) as api,
        ):
            statuses = [api.get(API).status_code for _ in range(REQUESTS)]
    assert statuses == [401] * REQUESTS
    assert server.counters.token_requests == 2
    assert gateway.requests == REQUESTS + 1
