"""An API that rejects even a fresh token costs a handful of token requests, on both adapters.

The API is a small app on loopback that answers 401 to every request until
told to accept (a wrong audience, a misconfigured gateway); tokens come from
the testing server on loopback. Time is a fake clock that only the test
moves. ``requests`` runs the source's private loop on both anyio backends;
aiohttp runs on asyncio only, by nature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import aiohttp
import anyio
import anyio.from_thread
import pytest
import requests

from tests.support.clock import FakeClock
from tokensources import ClientCredentials
from tokensources._rejections import origin
from tokensources.aiohttp import TokenMiddleware
from tokensources.requests import TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._loopback import serve_asgi
from tokensources.wrappers import Reuse, reuse

REQUESTS = 200
TIMEOUT = 10
BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


class _Gateway:
    """An API behind a gateway that rejects every token with 401 until ``accepting``."""

    def __init__(self) -> None:
        self.accepting = False
        self.requests = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        status = 200 if self.accepting else 401
        headers = [] if status == 200 else [(b"www-authenticate", b'Bearer error="invalid_token"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def server(clock: FakeClock) -> Iterator[AuthorizationServer]:
    """The testing server on loopback, in a background thread, on the fake clock."""
    server = AuthorizationServer(clock=clock)
    with server.serve_in_thread():
        yield server


@pytest.fixture
def gateway() -> Iterator[tuple[_Gateway, str]]:
    """The rejecting API on loopback, in a background thread, and its URL."""
    app = _Gateway()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_asgi(app)) as base,
    ):
        yield app, f"{base}/private"


def _source(server: AuthorizationServer, clock: FakeClock) -> Reuse:
    credentials = ClientCredentials(
        server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, clock=clock
    )
    return reuse(credentials, clock=clock)


def _statuses(get: Callable[[], int], clock: FakeClock, step: float) -> list[int]:
    statuses = []
    for _ in range(REQUESTS):
        statuses.append(get())
        clock.advance(step)
    return statuses


@BACKENDS
def test_requests_to_a_rejecting_api_cost_two_token_requests_within_the_backoff(
    server: AuthorizationServer, gateway: tuple[_Gateway, str], clock: FakeClock, backend: str
) -> None:
    """200 requests to an API that rejects every token, in no time: 2 token requests, 201 calls."""
    api, url = gateway
    with (
        TokenAuth(_source(server, clock), portal_backend=backend, clock=clock) as auth,
        requests.Session() as session,
    ):
        session.auth = auth
        statuses = _statuses(lambda: session.get(url, timeout=TIMEOUT).status_code, clock, 0.0)
    assert statuses == [401] * REQUESTS
    # The first request and its one resend with a fresh token; then no new token.
    assert server.counters.token_requests == 2
    assert api.requests == REQUESTS + 1


@BACKENDS
def test_requests_backoff_grows_and_a_success_ends_it(
    server: AuthorizationServer, gateway: tuple[_Gateway, str], clock: FakeClock, backend: str
) -> None:
    """200 rejected requests over 100 s try a fresh token once per backoff; a 200 ends it."""
    api, url = gateway
    with (
        TokenAuth(_source(server, clock), portal_backend=backend, clock=clock) as auth,
        requests.Session() as session,
    ):
        session.auth = auth
        statuses = _statuses(lambda: session.get(url, timeout=TIMEOUT).status_code, clock, 0.5)
        # Backoffs of 1, 2, 4, 8, 16, 30, 30 ... seconds (each jittered to 50-100 %).
        assert 7 <= server.counters.token_requests <= 13
        assert api.requests == REQUESTS + server.counters.token_requests - 1
        api.accepting = True
        assert session.get(url, timeout=TIMEOUT).status_code == 200
        api.accepting = False
        before = server.counters.token_requests
        answer = session.get(url, timeout=TIMEOUT)  # no backoff now: resent with a fresh token
    assert statuses == [401] * REQUESTS
    assert [r.status_code for r in answer.history] == [401]
    assert server.counters.token_requests == before + 1


@BACKENDS
def test_requests_streamed_bodies_do_not_drop_tokens_during_the_backoff(
    server: AuthorizationServer, gateway: tuple[_Gateway, str], clock: FakeClock, backend: str
) -> None:
    """Bodies that cannot be resent, rejected during the backoff, cost no token request."""
    api, url = gateway
    with TokenAuth(_source(server, clock), portal_backend=backend, clock=clock) as auth:
        assert requests.get(url, auth=auth, timeout=TIMEOUT).status_code == 401
        for _ in range(20):
            answer = requests.post(url, data=iter([b"chunk"]), auth=auth, timeout=TIMEOUT)
            assert answer.status_code == 401
    assert server.counters.token_requests == 2
    assert api.requests == 2 + 20


async def _aiohttp_statuses(
    session: aiohttp.ClientSession, url: str, clock: FakeClock, step: float
) -> list[int]:
    statuses = []
    for _ in range(REQUESTS):
        async with session.get(url) as response:
            statuses.append(response.status)
        clock.advance(step)
    return statuses


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_requests_to_a_rejecting_api_cost_two_token_requests_within_the_backoff(
    server: AuthorizationServer, gateway: tuple[_Gateway, str], clock: FakeClock
) -> None:
    """200 aiohttp requests to an API that rejects every token, in no time: 2 token requests."""
    api, url = gateway
    with TokenMiddleware(_source(server, clock), clock=clock) as middleware, anyio.fail_after(30):
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            statuses = await _aiohttp_statuses(session, url, clock, 0.0)
    assert statuses == [401] * REQUESTS
    assert server.counters.token_requests == 2
    assert api.requests == REQUESTS + 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_backoff_grows_and_a_success_ends_it(
    server: AuthorizationServer, gateway: tuple[_Gateway, str], clock: FakeClock
) -> None:
    """200 rejected aiohttp requests over 100 s try a fresh token once per backoff; 200 ends it."""
    api, url = gateway
    with TokenMiddleware(_source(server, clock), clock=clock) as middleware, anyio.fail_after(30):
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            statuses = await _aiohttp_statuses(session, url, clock, 0.5)
            assert 7 <= server.counters.token_requests <= 13
            assert api.requests == REQUESTS + server.counters.token_requests - 1
            api.accepting = True
            async with session.get(url) as accepted:
                assert accepted.status == 200
            api.accepting = False
            before = server.counters.token_requests
            async with session.get(url) as answer:
                assert answer.status == 401
    assert statuses == [401] * REQUESTS
    # No backoff after the 200: the 401 was resent with one fresh token.
    assert server.counters.token_requests == before + 1


def test_an_api_is_known_by_its_origin_never_by_credentials_in_its_url() -> None:
    """The origin logged and keyed on drops user, password, path and query, and ignores case."""
    assert (
        origin("HTTPS://user:s3cr3t@API.example:8443/v1/x?key=k3y#f") == "https://api.example:8443"
    )
    assert origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
