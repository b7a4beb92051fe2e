"""Fixtures for the shared sources: real redis-server processes, stores, namespaces."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio

from tests.support.redis_servers import RedisCluster, RedisServer
from tokensources.shared import SharedStore, default_store


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on a free loopback port for the whole session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may stop and start again."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A three-master Redis Cluster started from the same binary, for the session."""
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


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
