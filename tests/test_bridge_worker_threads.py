"""Sync requests from the worker threads of the source's own event loop never starve its refresh.

The source first lives on the test's event loop; then more sync requests
than that loop has worker threads run in those very threads
(``asyncio.to_thread`` on asyncio, ``anyio.to_thread`` on trio) and all need
a refresh at once. The token URL names ``localhost``, so the refresh must
resolve a host name, which takes a worker thread. Every request must get a
token, with one token request for all of them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import anyio
import anyio.to_thread
import httpx
import pytest

from tokensources import ClientCredentials, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio

# More than every worker thread the refresh could take from the loop.
EXTRA_CALLERS = 4


@pytest.fixture
def named() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, and its base URL with a host name to resolve."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base.replace("127.0.0.1", "localhost")


def _worker_threads(backend: str) -> int:
    """How many worker threads the running loop lends to sync code (and to name resolution)."""
    if backend == "asyncio":
        # asyncio.to_thread's default executor, which getaddrinfo uses too.
        return min(32, (os.cpu_count() or 1) + 4)
    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


async def _in_this_loops_workers(backend: str, n: int, api: httpx.Client) -> list[object]:
    """Make ``n`` sync requests at once, each in a worker thread of the running loop."""
    outcomes: list[object] = []

    def request() -> object:
        try:
            return api.get("/api/private").status_code
        except Exception as exc:
            return exc

    async def one() -> None:
        if backend == "asyncio":
            outcomes.append(await asyncio.to_thread(request))
        else:
            outcomes.append(await anyio.to_thread.run_sync(request))

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return outcomes


async def test_sync_requests_in_the_home_loops_worker_threads_all_get_a_token(
    named: tuple[AuthorizationServer, str], anyio_backend: str
) -> None:
    """More sync requests than the home loop has worker threads, all refreshing: all succeed."""
    server, base = named
    source: Reuse = reuse(
        ClientCredentials(f"{base}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    )
    n = _worker_threads(anyio_backend) + EXTRA_CALLERS
    with anyio.fail_after(60):
        with TokenAuth(source, portal_backend=anyio_backend) as auth:
            async with httpx.AsyncClient(base_url=base, auth=auth) as aapi:
                assert (await aapi.get("/api/private")).status_code == 200  # this loop is home
            # Closed here, so that the refresh must connect (and resolve) anew.
            await source.aclose()
            token = source.peek()
            assert token is not None
            source.invalidate(token)
            with httpx.Client(base_url=base, auth=auth, timeout=30) as api:
                outcomes = await _in_this_loops_workers(anyio_backend, n, api)
    assert outcomes == [200] * n
    assert server.counters.token_requests == 2
