"""TokenAuth with the sync httpx.Client, alone and sharing one source with async tasks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest

from tokensources import ClientCredentials, Static, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

THREADS = 50
TASKS = 50
SLOW_TOKEN_ENDPOINT = 0.5
# Far below SLOW_TOKEN_ENDPOINT and far above a tick on a busy machine.
MAX_TICK_GAP = 0.25


def _source(token_url: str) -> Reuse:
    return reuse(
        ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"])
    )


def _in_threads(n: int, work: Callable[[], int]) -> list[int]:
    """Run ``work`` in ``n`` threads released together; return their results."""
    barrier = threading.Barrier(n)
    results: list[int] = []

    def run() -> None:
        barrier.wait(timeout=10)
        results.append(work())

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a background thread."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base


def test_threads_on_a_cold_cache_fetch_one_token(served: tuple[AuthorizationServer, str]) -> None:
    """50 threads sharing one sync client on a cold cache cause one token request."""
    server, base = served
    with (
        TokenAuth(_source(server.token_endpoint)) as auth,
        httpx.Client(base_url=base, auth=auth, timeout=10) as api,
    ):
        statuses = _in_threads(THREADS, lambda: api.get("/api/private").status_code)
    assert statuses == [200] * THREADS
    assert server.counters.token_requests == 1


def test_sync_401_refreshes_once(served: tuple[AuthorizationServer, str]) -> None:
    """After a key rotation, 50 threads see 401s but cause one new token request."""
    server, base = served
    with (
        TokenAuth(_source(server.token_endpoint)) as auth,
        httpx.Client(base_url=base, auth=auth, timeout=10) as api,
    ):
        assert api.get("/api/private").status_code == 200
        server.rotate_keys()
        statuses = _in_threads(THREADS, lambda: api.get("/api/private").status_code)
    assert statuses == [200] * THREADS
    assert server.counters.api_unauthorized >= 1
    assert server.counters.token_requests == 2


def test_sync_streaming_upload_is_not_resent() -> None:
    """A 401 to a sync request with a generator body is returned without a resend."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401)

    def upload() -> Iterator[bytes]:
        yield b"chunk"

    with (
        TokenAuth(Static("t0k3n")) as auth,
        httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as api,
    ):
        response = api.post("https://api.example/upload", content=upload())
    assert response.status_code == 401
    assert len(calls) == 1


def test_sync_secrets_never_reach_logs(
    served: tuple[AuthorizationServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    """httpx and httpcore debug logs of the sync path never contain the token or secret."""
    server, base = served
    caplog.set_level(logging.DEBUG)
    source = _source(server.token_endpoint)
    with TokenAuth(source) as auth, httpx.Client(base_url=base, auth=auth, timeout=10) as api:
        server.rotate_keys()
        assert api.get("/api/private").status_code == 200
    token = source.peek()
    assert token is not None
    assert "httpcore" in caplog.text
    assert token.access_token not in caplog.text
    assert DEMO_CLIENT_SECRET not in caplog.text


def test_close_stops_the_private_loop(served: tuple[AuthorizationServer, str]) -> None:
    """close() ends the private loop's thread, and later sync requests are refused."""
    server, base = served
    auth = TokenAuth(_source(server.token_endpoint))
    with httpx.Client(base_url=base, auth=auth, timeout=10) as api:
        assert api.get("/api/private").status_code == 200
        assert _private_loop_threads() == 1
        auth.close()
        assert _private_loop_threads() == 0
        with pytest.raises(RuntimeError):
            api.get("/api/private")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_close_inside_an_event_loop_stops_the_private_loop(
    served: tuple[AuthorizationServer, str], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """close() called from async code (of either backend) closes the source and ends the loop."""
    server, base = served
    source = _source(server.token_endpoint)

    async def use_and_close() -> None:
        auth = TokenAuth(source, portal_backend=backend)
        with httpx.Client(base_url=base, auth=auth, timeout=10) as api:
            response = await anyio.to_thread.run_sync(api.get, "/api/private")
            assert response.status_code == 200
            assert _private_loop_threads() == 1
            auth.close()  # a brief blocking call, as httpx.Client.close() is

    caplog.set_level(logging.ERROR, logger="tokensources")
    anyio.run(use_and_close, backend=backend)
    assert _private_loop_threads() == 0
    assert caplog.records == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_source_outlives_the_loop_it_first_lived_on(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A source first used by an event loop that has since ended serves sync requests."""
    server, base = served
    source = _source(server.token_endpoint)

    async def first() -> int:
        # Connections belong to the loop that opened them: close them with it.
        async with source, httpx.AsyncClient(base_url=base, auth=TokenAuth(source)) as api:
            return (await api.get("/api/private")).status_code

    assert anyio.run(first, backend=backend) == 200
    with TokenAuth(source) as auth, httpx.Client(base_url=base, auth=auth, timeout=10) as api:
        server.rotate_keys()
        assert api.get("/api/private").status_code == 200
    assert server.counters.token_requests == 2


async def _heartbeat(gaps: list[float], stop: threading.Event) -> None:
    """Tick every few milliseconds until ``stop``, recording the time between ticks."""
    last = time.monotonic()
    while not stop.is_set():
        await anyio.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


async def _get(api: httpx.AsyncClient, statuses: list[int]) -> None:
    statuses.append((await api.get("/api/private")).status_code)


def _status(api: httpx.Client) -> int:
    return api.get("/api/private").status_code


def _private_loop_threads() -> int:
    return sum(t.name == "tokensources-bridge" and t.is_alive() for t in threading.enumerate())


class TestMixed:
    """One source shared by async tasks and threads."""

    pytestmark = pytest.mark.anyio

    async def _storm(self, sync_first: bool) -> tuple[AuthorizationServer, list[int]]:
        server = AuthorizationServer()
        statuses: list[int] = []
        async with server.serve() as base:
            source = _source(server.token_endpoint)
            auth = TokenAuth(source)
            async with httpx.AsyncClient(base_url=base, auth=auth) as aapi:
                with httpx.Client(base_url=base, auth=auth, timeout=10) as sapi:

                    def sync_call() -> None:
                        statuses.append(sapi.get("/api/private").status_code)

                    async def async_call() -> None:
                        statuses.append((await aapi.get("/api/private")).status_code)

                    async def thread_call() -> None:
                        await anyio.to_thread.run_sync(sync_call)

                    if sync_first:
                        await thread_call()
                    async with anyio.create_task_group() as tg:
                        for _ in range(TASKS):
                            tg.start_soon(async_call)
                            tg.start_soon(thread_call)
            # The source's connections belong to the loop that fetched the
            # token (the private loop after a sync request, this one else):
            # closed there first.
            if sync_first:
                auth.close()
                await source.aclose()
            else:
                await source.aclose()
                auth.close()
        return server, statuses

    async def test_async_tasks_and_threads_share_one_refresh(self) -> None:
        """Async tasks and threads starting together on a cold cache cause one token request."""
        with anyio.fail_after(30):
            server, statuses = await self._storm(sync_first=False)
        assert statuses == [200] * (2 * TASKS)
        assert server.counters.token_requests == 1

    async def test_async_tasks_reach_a_source_living_on_the_private_loop(self) -> None:
        """After a sync request homed the source on the private loop, async tasks still share it."""
        with anyio.fail_after(30):
            server, statuses = await self._storm(sync_first=True)
        assert statuses == [200] * (2 * TASKS + 1)
        assert server.counters.token_requests == 1

    async def test_no_event_loop_waits_for_token_io(self, anyio_backend: str) -> None:
        """During a slow refresh, the home loop and another calling loop keep ticking."""
        server = AuthorizationServer()
        statuses: list[int] = []
        home_gaps: list[float] = []
        other_gaps: list[float] = []
        stop = threading.Event()
        with anyio.fail_after(30):
            async with server.serve() as base:
                source = _source(server.token_endpoint)
                auth = TokenAuth(source)
                async with httpx.AsyncClient(base_url=base, auth=auth) as aapi:
                    assert (await aapi.get("/api/private")).status_code == 200  # home is here
                    # Its connections belong to this loop, which the source leaves.
                    await source.aclose()
                    cached = source.peek()
                    assert cached is not None
                    source.invalidate(cached)
                    server.faults.latency = SLOW_TOKEN_ENDPOINT

                    async def other_loop() -> None:
                        done = threading.Event()
                        async with (
                            httpx.AsyncClient(base_url=base, auth=auth) as other,
                            anyio.create_task_group() as tg,
                        ):
                            tg.start_soon(_heartbeat, other_gaps, done)
                            async with anyio.create_task_group() as requests:
                                for _ in range(TASKS):
                                    requests.start_soon(_get, other, statuses)
                            done.set()

                    with httpx.Client(base_url=base, auth=auth, timeout=10) as sapi:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(_heartbeat, home_gaps, stop)
                            async with anyio.create_task_group() as callers:
                                # Plain threads, as a WSGI server's (the worker
                                # threads of this loop: test_bridge_worker_threads).
                                def sync_callers() -> None:
                                    statuses.extend(_in_threads(THREADS, partial(_status, sapi)))

                                callers.start_soon(anyio.to_thread.run_sync, sync_callers)
                                in_other_loop = partial(
                                    anyio.run, other_loop, backend=anyio_backend
                                )
                                callers.start_soon(anyio.to_thread.run_sync, in_other_loop)
                            stop.set()
                auth.close()
        assert statuses == [200] * (THREADS + TASKS)
        assert server.counters.token_requests == 2
        # The refresh alone took SLOW_TOKEN_ENDPOINT; no loop stalled for it.
        assert home_gaps
        assert other_gaps
        assert max(home_gaps) < MAX_TICK_GAP
        assert max(other_gaps) < MAX_TICK_GAP

    async def test_fresh_token_does_not_wait_for_a_busy_home_loop(self) -> None:
        """With a fresh cached token, requests off the home loop never wait for that loop."""
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        source = reuse(Static("t0k3n"))
        auth = TokenAuth(source)
        blocking, released = threading.Event(), threading.Event()

        async def first_request() -> None:
            async with httpx.AsyncClient(auth=auth, transport=transport) as api:
                assert (await api.get("https://api.example/")).status_code == 200

        async def block_the_loop() -> None:
            blocking.set()
            released.wait(30)  # the home loop is stuck in blocking work

        with anyio.from_thread.start_blocking_portal() as home:
            home.call(first_request)  # the portal's loop is now the source's home
            home.start_task_soon(block_the_loop)
            try:
                assert await anyio.to_thread.run_sync(blocking.wait, 10)
                with anyio.fail_after(5):
                    async with httpx.AsyncClient(auth=auth, transport=transport) as aapi:
                        assert (await aapi.get("https://api.example/")).status_code == 200
                    with httpx.Client(auth=auth, transport=transport) as sapi:
                        response = await anyio.to_thread.run_sync(sapi.get, "https://api.example/")
                        assert response.status_code == 200
            finally:
                released.set()
        auth.close()

    async def test_sync_client_inside_the_home_loop_is_refused(self) -> None:
        """A sync request on the thread of the loop the source lives on raises, not deadlocks."""
        transport = httpx.MockTransport(lambda request: httpx.Response(200))
        auth = TokenAuth(Static("t0k3n"))
        with anyio.fail_after(10):
            async with httpx.AsyncClient(auth=auth, transport=transport) as aapi:
                assert (await aapi.get("https://api.example/")).status_code == 200
            with httpx.Client(auth=auth, transport=transport) as sapi, pytest.raises(RuntimeError):
                sapi.get("https://api.example/")  # noqa: ASYNC212 - the misuse under test
