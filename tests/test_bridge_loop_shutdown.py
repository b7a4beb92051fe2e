"""The end of the event loop a source first lived on strands no thread and breaks no cache.

Threads make sync requests that need a refresh at the very moment the
source's first event loop shuts down: they are let go from inside the
loop's shutdown (on asyncio an async generator finalised after the main task
ended, on trio a system task cancelled by that end), and the loop closes
only once their refresh is under way at the token endpoint, which holds it
until the test lets it through. Driven by events
only, the scenario is repeated a few times on each backend; each time every
thread must get its token, and the cache must serve a refresh afterwards,
from a new event loop and from a thread.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
import trio
import trio.lowlevel
import trio.to_thread

from tokensources import ClientCredentials, InMemoryShared, Token, TokenAuth
from tokensources.shared import SharedStore
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._loopback import serve_asgi
from tokensources.wrappers import Reuse, reuse

TRIALS = 3
THREADS = 8
WAIT = 20.0


class _HeldTokenEndpoint:
    """The testing server, whose token requests wait for ``release`` once ``hold`` is set."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server
        self.hold = threading.Event()
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth/token" and self.hold.is_set():
            self.arrived.set()
            await anyio.to_thread.run_sync(self.release.wait, WAIT)
        await self.server(scope, receive, send)

    def reset(self) -> None:
        for event in (self.hold, self.arrived, self.release):
            event.clear()


@pytest.fixture
def endpoint() -> Iterator[tuple[_HeldTokenEndpoint, str]]:
    """The held endpoint served on loopback from a thread of its own, and its base URL."""
    app = _HeldTokenEndpoint(AuthorizationServer())
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_asgi(app)) as base,
    ):
        yield app, base


async def _at_asyncio_end(go: threading.Event, arrived: threading.Event) -> AsyncGenerator[None]:
    """Suspended until asyncio finalises it, after the main task ended; then let the threads go."""
    try:
        yield
    finally:
        go.set()
        # The loop ends only once the threads' refresh is under way.
        await anyio.to_thread.run_sync(arrived.wait, WAIT)


async def _at_trio_end(go: threading.Event, arrived: threading.Event) -> None:
    """A trio system task: cancelled once the main task ended; then let the threads go."""
    try:
        await trio.sleep_forever()
    finally:
        go.set()
        with trio.CancelScope(shield=True):
            # The run ends only once the threads' refresh is under way.
            await trio.to_thread.run_sync(arrived.wait, WAIT)


def _trial(app: _HeldTokenEndpoint, base: str, backend: str) -> list[object]:
    """One shutdown with threads refreshing; return what the threads got."""
    app.reset()
    source: Reuse = reuse(
        ClientCredentials(f"{base}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    )
    go = threading.Event()
    outcomes: list[object] = []
    finalised_at_the_end: list[AsyncGenerator[None]] = []

    def sync_request() -> None:
        go.wait(WAIT)
        try:
            outcomes.append(api.get("/api/private").status_code)
        except Exception as exc:
            outcomes.append(exc)

    async def home() -> None:
        async with httpx.AsyncClient(base_url=base, auth=auth) as aapi:
            assert (await aapi.get("/api/private")).status_code == 200  # this loop is home
        await source.aclose()  # its connections belong to this loop
        token = source.peek()
        assert token is not None
        source.invalidate(token)
        app.hold.set()
        for thread in threads:
            thread.start()
        if backend == "trio":
            trio.lowlevel.spawn_system_task(_at_trio_end, go, app.arrived)
        else:
            # Kept alive past this function, so that the loop's shutdown finalises it.
            finalised_at_the_end.append(_at_asyncio_end(go, app.arrived))
            await finalised_at_the_end[0].asend(None)

    threads = [threading.Thread(target=sync_request) for _ in range(THREADS)]
    with (
        TokenAuth(source, portal_backend=backend) as auth,
        httpx.Client(base_url=base, auth=auth, timeout=WAIT) as api,
    ):
        anyio.run(home, backend=backend)
        assert app.arrived.is_set()
        app.release.set()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads), "a thread was left hanging"

        async def refresh_on_a_new_loop() -> int:
            token = source.peek()
            assert token is not None
            source.invalidate(token)
            async with httpx.AsyncClient(base_url=base, auth=auth) as aapi:
                return (await aapi.get("/api/private")).status_code

        assert anyio.run(refresh_on_a_new_loop, backend=backend) == 200
        token = source.peek()
        assert token is not None
        source.invalidate(token)
        assert api.get("/api/private").status_code == 200
    return outcomes


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_threads_refreshing_while_the_home_loop_ends_all_get_a_token(
    endpoint: tuple[_HeldTokenEndpoint, str], backend: str
) -> None:
    """Every thread refreshing as the first loop shuts down gets a token; the cache goes on."""
    app, base = endpoint
    counters = app.server.counters
    for trial in range(TRIALS):
        before = counters.token_requests
        assert _trial(app, base, backend) == [200] * THREADS, f"trial {trial}"
        # The first token, the threads' one refresh, then one on a new loop and one for a thread.
        assert counters.token_requests - before == 4, f"trial {trial}"


@pytest.mark.filterwarnings("ignore:asynchronous generator .* was scheduled after:ResourceWarning")
def test_another_loops_caller_survives_the_end_of_a_shared_tokens_home_loop(
    endpoint: tuple[_HeldTokenEndpoint, str],
) -> None:
    """A caller on another loop, served on the shared token's home as that loop ends, gets a token.

    asyncio only by nature: only asyncio leaves a call put in during its
    shutdown (after the leftover tasks were cancelled) unfinished for good;
    trio cancels it. The warning filtered is asyncio's about such a call.
    """
    app, base = endpoint
    app.reset()
    source = InMemoryShared(
        ClientCredentials(f"{base}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        store=SharedStore(),
    )
    go = threading.Event()
    outcomes: list[object] = []
    finalised_at_the_end: list[AsyncGenerator[None]] = []

    async def other_loop() -> None:
        await anyio.to_thread.run_sync(go.wait, WAIT)
        try:
            outcomes.append(await source.token())
        except Exception as exc:
            outcomes.append(exc)

    other = threading.Thread(target=anyio.run, args=(other_loop,))

    async def home() -> None:
        first = await source.token()  # this loop is the group's home
        source.invalidate(first)
        app.hold.set()
        other.start()
        finalised_at_the_end.append(_at_asyncio_end(go, app.arrived))
        await finalised_at_the_end[0].asend(None)

    anyio.run(home)
    app.release.set()
    other.join(WAIT)
    assert not other.is_alive(), "the other loop's caller was left hanging"
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], Token)
