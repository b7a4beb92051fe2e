"""InMemoryShared: sources with the same identity share one token and one refresh."""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
import anyio.to_thread
import pytest

from tests.support.clock import FakeClock
from tests.support.shared_helpers import call_many, make_source
from tokensources import ConfigError, Static, TokenEndpointError
from tokensources.shared import InMemoryShared, SharedStore, default_store
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

AUDIENCES = ("https://a.example", "https://b.example")


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server with a second client allowed two audiences."""
    server = AuthorizationServer(clock=clock)
    server.register_client("other-client", "other-secret", audiences=AUDIENCES)
    return server


async def test_same_identity_shares_one_token_and_one_refresh(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore
) -> None:
    """Two separately built sources with the same identity make one request between them."""
    first = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    second = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    tokens = await call_many([first, second], 50)
    assert server.counters.token_requests == 1
    assert len({token.access_token for token in tokens}) == 1
    assert first.identity == second.identity


async def test_expiry_is_one_refresh_for_the_group(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore
) -> None:
    """After the shared token expires, the whole group refreshes it once."""
    first = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    second = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    before = await call_many([first, second], 10)
    clock.advance(server.token_lifetime + 1)
    after = await call_many([first, second], 10)
    assert server.counters.token_requests == 2
    assert {t.access_token for t in before}.isdisjoint({t.access_token for t in after})
    assert len({t.access_token for t in after}) == 1


DIFFERENCES: dict[str, Callable[[], dict[str, object]]] = {
    "scopes": lambda: {"scopes": ("write:messages",)},
    "audience": lambda: {
        "client_id": "other-client",
        "client_secret": "other-secret",
        "audience": AUDIENCES[1],
    },
    "client": lambda: {"client_id": "other-client", "client_secret": "other-secret"},
}


@pytest.mark.parametrize("difference", sorted(DIFFERENCES))
async def test_different_requests_never_share(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore, difference: str
) -> None:
    """Sources whose token requests differ in scopes, audience or client get their own tokens."""
    base: dict[str, object] = {}
    if difference == "audience":
        base = {"client_id": "other-client", "client_secret": "other-secret"}
        base["audience"] = AUDIENCES[0]
    first = InMemoryShared(make_source(server, clock, **base), store=store, clock=clock)
    second = InMemoryShared(
        make_source(server, clock, **DIFFERENCES[difference]()), store=store, clock=clock
    )
    one, two = await first.token(), await second.token()
    assert one.access_token != two.access_token
    assert first.identity != second.identity
    assert server.counters.token_requests == 2
    assert len(store) == 2


async def test_a_different_secret_never_gets_the_cached_token(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore
) -> None:
    """A source with a wrong secret asks the server itself and is refused, not served the cache."""
    good = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    wrong = InMemoryShared(
        make_source(server, clock, client_secret="not-the-secret"), store=store, clock=clock
    )
    await good.token()
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await wrong.token()
    assert caught.value.error == "invalid_client"
    assert server.counters.token_requests >= 2
    assert "not-the-secret" not in str(caught.value)
    assert "not-the-secret" not in good.identity + wrong.identity


async def test_invalidate_drops_the_token_for_the_whole_group(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore
) -> None:
    """A token rejected through one member is refreshed once for every member."""
    first = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    second = InMemoryShared(make_source(server, clock), store=store, clock=clock)
    old = await first.token()
    second.invalidate(old)
    new = await call_many([first, second], 5)
    assert {t.access_token for t in new} != {old.access_token}
    assert len({t.access_token for t in new}) == 1
    assert server.counters.token_requests == 2


async def test_default_store_is_shared_process_wide(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Without a store argument, sources share through the one process-wide store."""
    first = InMemoryShared(make_source(server, clock), clock=clock)
    second = InMemoryShared(make_source(server, clock), clock=clock)
    assert (await first.token()) == (await second.token())
    assert server.counters.token_requests == 1
    assert len(default_store()) == 1


async def test_key_names_a_token_for_sources_without_identity(store: SharedStore) -> None:
    """A source without cache_identity needs key=, and equal keys share."""
    with pytest.raises(ConfigError, match="key="):
        InMemoryShared(Static("first-token"), store=store)
    first = InMemoryShared(Static("first-token"), key="partner-api", store=store)
    second = InMemoryShared(Static("second-token"), key="partner-api", store=store)
    assert (await second.token()).access_token == "first-token"
    assert (await first.token()).access_token == "first-token"


@pytest.mark.parametrize("key", ["", "has space", "{brace}", "x" * 201])
def test_malformed_keys_are_refused(key: str, store: SharedStore) -> None:
    """A key that is empty, too long or holds spaces or braces is a ConfigError."""
    with pytest.raises(ConfigError, match="key must be"):
        InMemoryShared(Static("a-token"), key=key, store=store)


def test_threads_with_their_own_loops_share_one_refresh(
    server: AuthorizationServer, clock: FakeClock, store: SharedStore
) -> None:
    """An asyncio thread and a trio thread sharing one identity never hang and make one request."""
    server.faults.latency = 0.2  # both threads' callers arrive during the one refresh
    start, finish = threading.Barrier(2, timeout=10), threading.Event()
    results: dict[str, set[str] | str] = {}

    async def work(name: str) -> None:
        source = InMemoryShared(make_source(server, clock), store=store, clock=clock)
        await anyio.to_thread.run_sync(start.wait)
        with anyio.fail_after(10):
            results[name] = {t.access_token for t in await call_many([source], 10)}
            if len(results) == 2:
                finish.set()
            # The first loop to ask is the group's home: it stays up until both are done.
            await anyio.to_thread.run_sync(finish.wait, 10)

    def thread(name: str, backend: str) -> None:
        try:
            anyio.run(work, name, backend=backend)
        except BaseException as exc:  # reported to the test below
            results[name] = repr(exc)
            finish.set()

    threads = [
        threading.Thread(target=thread, args=(backend, backend), daemon=True)
        for backend in ("asyncio", "trio")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert [t.is_alive() for t in threads] == [False, False]
    assert results["asyncio"] == results["trio"]
    assert isinstance(results["asyncio"], set)
    assert len(results["asyncio"]) == 1
    assert server.counters.token_requests == 1
