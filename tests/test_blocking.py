"""blocking(source): tokens for sync code, from any thread, after fork, never deadlocking.

The sync tests run the private loop on both anyio backends (``portal_backend``);
the test of a call from inside the source's own loop runs on both backends too.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import anyio
import httpx
import pytest

from tokensources import (
    Blocking,
    ClientCredentials,
    ConfigError,
    Static,
    Token,
    TokenAuth,
    TokenEndpointError,
    blocking,
)
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

THREADS = 100
CHILD_TIMEOUT = 30.0
BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a background thread."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base


def _source(server: AuthorizationServer) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"]
        )
    )


def in_threads(n: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``n`` threads released together; return their results (bounded waits)."""
    barrier = threading.Barrier(n)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait(timeout=10)
        outcome = work()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@BACKENDS
def test_many_threads_on_a_cold_cache_cause_one_token_request(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """100 threads calling token() at once on a cold cache share one token request."""
    server, _ = served
    with blocking(_source(server), portal_backend=backend) as tokens:
        fingerprints = in_threads(THREADS, lambda: tokens.token().fingerprint)
    assert len(fingerprints) == THREADS
    assert len(set(fingerprints)) == 1
    assert server.counters.token_requests == 1


@BACKENDS
def test_invalidate_drops_the_token_and_the_next_call_refreshes(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A fresh token is reused; after invalidate() the next token() is a new one."""
    server, _ = served
    with blocking(_source(server), portal_backend=backend) as tokens:
        first = tokens.token()
        assert tokens.token() is first
        tokens.invalidate(first)
        second = tokens.token()
    assert second.access_token != first.access_token
    assert server.counters.token_requests == 2


@BACKENDS
def test_errors_of_the_source_reach_the_thread(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A token endpoint error is raised in the calling thread, as await token() raises it."""
    server, _ = served
    server.enqueue_error(400, "invalid_scope")
    with blocking(_source(server), portal_backend=backend) as tokens:
        with pytest.raises(TokenEndpointError) as raised:
            tokens.token()
    assert raised.value.error == "invalid_scope"
    assert DEMO_CLIENT_SECRET not in str(raised.value)


def test_close_refuses_later_calls() -> None:
    """After close() (or the with block), token() raises RuntimeError; close() is idempotent."""
    tokens = blocking(Static("t0k3n"))
    assert tokens.token().access_token == "t0k3n"
    tokens.close()
    tokens.close()
    with pytest.raises(RuntimeError, match="closed"):
        tokens.token()


@pytest.mark.parametrize(
    "wrong",
    [None, "a-token-string", Token("t0k3n"), object(), lambda: Token("t0k3n")],
    ids=["none", "str", "token", "object", "sync-callable"],
)
def test_a_source_of_the_wrong_kind_is_refused_at_construction(wrong: object) -> None:
    """Anything without async token() and invalidate() is a ConfigError naming its type."""
    with pytest.raises(ConfigError, match="needs a token source") as raised:
        blocking(wrong)  # type: ignore[arg-type]
    assert type(wrong).__name__ in str(raised.value)
    assert "t0k3n" not in str(raised.value)


class SyncTokenSource:
    """Looks like a source, but its token() is not a coroutine function."""

    def token(self) -> Token:
        return Token("t0k3n")

    def invalidate(self, token: Token) -> None:
        pass


def test_a_source_with_a_sync_token_method_is_refused() -> None:
    """A token() that is not async would never be awaited correctly: ConfigError."""
    with pytest.raises(ConfigError, match="SyncTokenSource"):
        Blocking(SyncTokenSource())  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_call_inside_the_sources_own_loop_raises_instead_of_deadlocking(
    anyio_backend: str,
) -> None:
    """On the thread of the loop the source lives on, token() raises a clear RuntimeError."""
    server = AuthorizationServer()
    with anyio.fail_after(10):
        async with server.serve():
            source = _source(server)
            with TokenAuth(source) as auth:
                async with httpx.AsyncClient(base_url=server.issuer, auth=auth) as api:
                    response = await api.get("/api/private")  # this loop is now home
                token = source.peek()
                assert token is not None
                source.invalidate(token)
                inside = pytest.raises(RuntimeError, match="deadlock; use the async API")
                with blocking(source) as tokens, inside:
                    tokens.token()
            await source.aclose()
    assert response.status_code == 200
    assert server.counters.token_requests == 1


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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@BACKENDS
def test_a_forked_child_reuses_the_cached_token_then_refreshes_on_its_own_loop(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """In a child forked after use, token() serves the cached token, and a refresh returns."""
    server, _ = served
    with blocking(_source(server), portal_backend=backend) as tokens:
        parent = tokens.token()

        def child() -> tuple[bool, bool]:
            cached = tokens.token()
            tokens.invalidate(cached)
            refreshed = tokens.token()
            return cached is parent, refreshed.access_token != parent.access_token

        assert _in_forked_child(child) == (True, True)
    assert server.counters.token_requests == 2
