"""The one redis-server launcher: a free loopback port, restartable, nothing left behind."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tokensources import ConfigError
from tokensources.cli._redis import RedisServer


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16)


def test_server_answers_while_running_and_is_gone_after() -> None:
    """Inside its ``with`` block the server answers PING; after it, the port is closed."""
    with RedisServer() as server:
        was_running = server.running
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert _ping(server.port) == b"+PONG\r\n"
    assert (was_running, server.running) == (True, False)
    with pytest.raises(OSError):
        _ping(server.port)


def test_a_stopped_server_starts_again_on_its_port(tmp_path: Path) -> None:
    """stop() then start() brings the server back on the same port, logging in its workdir."""
    server = RedisServer(tmp_path / "redis")
    try:
        server.start()
        port = server.port
        server.stop()
        with pytest.raises(OSError):
            _ping(port)
        server.start()
        assert server.port == port
        assert _ping(port) == b"+PONG\r\n"
    finally:
        server.stop()
    assert (tmp_path / "redis" / "redis.log").stat().st_size > 0


def test_a_temporary_workdir_is_removed_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a workdir the server runs in a temporary directory that stop() removes."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with RedisServer():
        assert [p.name.startswith("tokensources-redis-") for p in tmp_path.iterdir()] == [True]
    assert list(tmp_path.iterdir()) == []


def test_a_binary_that_cannot_run_is_a_config_error(tmp_path: Path) -> None:
    """A missing binary is a ConfigError naming it, and nothing is left running."""
    server = RedisServer(tmp_path, binary=str(tmp_path / "no-such-redis-server"))
    with pytest.raises(ConfigError, match=r"cannot run redis-server .*no-such-redis-server"):
        server.start()
    assert not server.running


def test_a_binary_that_exits_at_once_is_a_config_error_with_its_status(tmp_path: Path) -> None:
    """A binary that exits at start is reported with its status and last log line."""
    script = tmp_path / "fake-redis-server"
    script.write_text(f"#!{sys.executable}\nimport sys\nprint('bad config')\nsys.exit(7)\n")
    script.chmod(0o755)
    server = RedisServer(tmp_path / "work", binary=str(script))
    with pytest.raises(ConfigError, match=r"exited at start \(status 7\): bad config"):
        server.start()
    assert not server.running
