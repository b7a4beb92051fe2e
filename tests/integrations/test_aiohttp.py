"""tokensources.aiohttp: a real aiohttp client against the testing server on loopback.

asyncio only, by nature: aiohttp runs on asyncio and not on trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from tests.integrations.test_requests import Rejected
from tokensources import ClientCredentials, ConfigError, Token, TokenEndpointError
from tokensources.aiohttp import TokenMiddleware
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio
TASKS = 100


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def served() -> AsyncIterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in this event loop."""
    server = AuthorizationServer()
    with anyio.fail_after(30):
        async with server.serve() as base:
            yield server, base


def _source(server: AuthorizationServer) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"]
        )
    )


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    """GET ``url`` and return the status, releasing the answer."""
    async with session.get(url) as response:
        return response.status


async def test_concurrent_requests_on_a_cold_cache_cause_one_token_request(
    served: tuple[AuthorizationServer, str],
) -> None:
    """100 concurrent requests through the middleware get 200 and share one token request."""
    server, base = served
    statuses: list[int] = []
    source = _source(server)
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:

            async def call() -> None:
                statuses.append(await status_of(session, f"{base}/api/private"))

            async with anyio.create_task_group() as tg:
                for _ in range(TASKS):
                    tg.start_soon(call)
    await source.aclose()
    assert statuses == [200] * TASKS
    assert server.counters.token_requests == 1


async def test_a_401_invalidates_and_resends_once(
    served: tuple[AuthorizationServer, str],
) -> None:
    """After a key rotation the API answers 401: one new token, one resend, 200."""
    server, base = served
    source = _source(server)
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            assert await status_of(session, f"{base}/api/private") == 200
            server.rotate_keys()
            second = await status_of(session, f"{base}/api/private")
    await source.aclose()
    assert second == 200
    assert server.counters.api_unauthorized == 1
    assert server.counters.token_requests == 2


async def test_a_second_401_is_returned_as_it_is(
    served: tuple[AuthorizationServer, str],
) -> None:
    """An API that rejects the fresh token too gets two requests in all, not a loop."""
    server, base = served
    rejected = Rejected()
    with TokenMiddleware(reuse(rejected)) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            status = await status_of(session, f"{base}/api/private")
    assert status == 401
    assert rejected.calls == 2
    assert server.counters.api_requests == 2


async def test_a_streamed_body_is_not_resent_but_its_token_is_dropped(
    served: tuple[AuthorizationServer, str],
) -> None:
    """An async-generator body cannot be replayed: the 401 comes back, the next call refreshes."""
    server, base = served
    source = _source(server)

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            assert await status_of(session, f"{base}/api/private") == 200
            server.rotate_keys()
            async with session.get(f"{base}/api/private", data=body()) as response:
                streamed = response.status
            dropped = source.peek() is None
            after = await status_of(session, f"{base}/api/private")
    await source.aclose()
    assert (streamed, dropped, after) == (401, True, 200)
    assert server.counters.token_requests == 2


async def test_token_endpoint_errors_reach_the_caller(
    served: tuple[AuthorizationServer, str],
) -> None:
    """A failed token request raises TokenEndpointError from session.get, without the secret."""
    server, base = served
    server.enqueue_error(400, "invalid_scope")
    source = _source(server)
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            with pytest.raises(TokenEndpointError) as raised:
                await status_of(session, f"{base}/api/private")
    await source.aclose()
    assert raised.value.error == "invalid_scope"
    assert DEMO_CLIENT_SECRET not in str(raised.value)
    assert server.counters.api_requests == 0


@pytest.mark.parametrize(
    "wrong", ["t0k3n", Token("t0k3n"), lambda: "t0k3n", None], ids=["str", "token", "fn", "none"]
)
def test_a_source_of_the_wrong_kind_fails_at_construction(wrong: object) -> None:
    """A string, a token or a sync callable is a ConfigError when the middleware is built."""
    with pytest.raises(ConfigError, match=r"tokensources\.aiohttp\.TokenMiddleware"):
        TokenMiddleware(wrong)  # type: ignore[arg-type]


async def test_one_source_serves_aiohttp_and_requests_with_one_token(
    served: tuple[AuthorizationServer, str],
) -> None:
    """requests in a worker thread and aiohttp on this loop share one source and one token."""
    import requests

    from tokensources.requests import TokenAuth

    server, base = served
    source = _source(server)

    def sync_call() -> int:
        return requests.get(f"{base}/api/private", auth=auth, timeout=10).status_code

    with TokenMiddleware(source) as middleware, TokenAuth(source) as auth:
        # The thread moves the source to the bridge's private loop; aiohttp reaches it there.
        from_thread = await anyio.to_thread.run_sync(sync_call)
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            cached = await status_of(session, f"{base}/api/private")
            server.rotate_keys()
            refreshed = await status_of(session, f"{base}/api/private")
        again = await anyio.to_thread.run_sync(sync_call)
    assert (from_thread, cached, refreshed, again) == (200, 200, 200, 200)
    assert server.counters.token_requests == 2  # the first, and one after the 401
