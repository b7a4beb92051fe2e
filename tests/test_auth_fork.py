"""A child forked after TokenAuth was used starts clean: its first refresh returns.

``os.fork()`` (gunicorn ``--preload``, Celery prefork, ``multiprocessing``)
copies the parent's memory but only the forking thread, so no event loop the
parent's bridge knew runs in the child. Each test forks a child with the
``multiprocessing`` fork context, waits for it with a bounded timeout, and
asserts that it finished and what it returned.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

import anyio
import httpx
import pytest

from tokensources import ClientCredentials, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only"),
    # Python 3.12+ warns about forking a process that runs threads (the
    # testing server's and the bridge's): that the child copes is the point.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]

CHILD_TIMEOUT = 30.0


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a thread of the parent (the child reaches it by TCP)."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base


def _source(server: AuthorizationServer) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"]
        )
    )


def _in_forked_child(work: Callable[[], object]) -> object:
    """Run ``work`` in a forked child; return what it returned (or its error, as text)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child(out: Connection) -> None:
        try:
            out.send(work())
        except BaseException as exc:
            out.send(f"{type(exc).__name__}: {exc}")

    process = context.Process(target=child, args=(sender,))
    process.start()
    sender.close()
    process.join(CHILD_TIMEOUT)
    hung = process.is_alive()
    if hung:
        process.kill()
        process.join()
    assert not hung, "the forked child did not finish"
    assert process.exitcode == 0
    assert receiver.poll()
    return receiver.recv()


def test_first_sync_refresh_in_a_forked_child_returns(
    served: tuple[AuthorizationServer, str],
) -> None:
    """In the child, the token cached before the fork is used, then a refresh returns a new one."""
    server, base = served
    source = _source(server)
    with TokenAuth(source) as auth, httpx.Client(base_url=base, auth=auth, timeout=10) as api:
        assert api.get("/api/private").status_code == 200  # the private loop runs now

        def child() -> tuple[int, int]:
            with httpx.Client(base_url=base, auth=auth, timeout=10) as own:
                cached = own.get("/api/private").status_code
                token = source.peek()
                assert token is not None
                source.invalidate(token)
                return cached, own.get("/api/private").status_code

        assert _in_forked_child(child) == (200, 200)
    # One token for the parent, one refreshed by the child.
    assert server.counters.token_requests == 2


def test_401_resend_in_a_forked_child_returns(served: tuple[AuthorizationServer, str]) -> None:
    """A 401 in the child (the keys rotated after the fork's token) is cured by a refresh."""
    server, base = served
    with TokenAuth(_source(server)) as auth, httpx.Client(base_url=base, auth=auth) as api:
        assert api.get("/api/private").status_code == 200
        server.rotate_keys()

        def child() -> tuple[list[int], int]:
            with httpx.Client(base_url=base, auth=auth, timeout=10) as own:
                response = own.get("/api/private")
                return [r.status_code for r in response.history], response.status_code

        assert _in_forked_child(child) == ([401], 200)
    assert server.counters.token_requests == 2


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_refresh_in_a_forked_child_returns(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """An async client in the child refreshes on the child's own event loop."""
    server, base = served
    source = _source(server)
    with TokenAuth(source) as auth, httpx.Client(base_url=base, auth=auth) as api:
        assert api.get("/api/private").status_code == 200

        def child() -> int:
            async def main() -> int:
                token = source.peek()
                assert token is not None
                source.invalidate(token)
                async with source, httpx.AsyncClient(base_url=base, auth=auth) as own:
                    return (await own.get("/api/private")).status_code

            return anyio.run(main, backend=backend)

        assert _in_forked_child(child) == 200
    assert server.counters.token_requests == 2
