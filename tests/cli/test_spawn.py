"""The testing server in a child process: started, driven over its pipe, stopped."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tokensources import ConfigError
from tokensources.cli._spawn import ServerProcess
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def _token_request(server: ServerProcess, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def test_child_server_serves_counts_and_stops() -> None:
    """The child serves tokens at ``token_url``, counts them over the pipe, and exits on close."""
    with ServerProcess(token_lifetime=60) as server:
        assert server.base.startswith("http://127.0.0.1:")
        assert server.token_url == server.base + "/oauth/token"
        response = _token_request(server, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        assert response.status_code == 200
        assert response.json()["expires_in"] == 60
        counts = server.counts()
        assert (counts.token_requests, counts.api_requests) == (1, 0)
        assert counts.cpu_seconds > 0
        pid = server.pid
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_clients_and_latency_are_set_between_measurements() -> None:
    """A client registered over the pipe gets tokens, and a set latency delays each answer."""
    with ServerProcess(demo_client=False) as server:
        server.register_client("bench", "bench-secret", token_lifetime=5)
        assert _token_request(server, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).status_code == 401
        assert _token_request(server, "bench", "bench-secret").json()["expires_in"] == 5
        server.set_latency(0.3)
        started = time.monotonic()
        assert _token_request(server, "bench", "bench-secret").status_code == 200
        assert time.monotonic() - started >= 0.3
        assert server.token_requests() == 3


def test_a_refused_registration_is_a_config_error_naming_no_secret() -> None:
    """The child's refusal comes back as a ConfigError, without the secret it was given."""
    with ServerProcess() as server:
        with pytest.raises(ConfigError, match="refused 'register'") as caught:
            server.register_client("bad", "s3cret-in-the-call", scopes="not-a-list", bogus=1)
        assert "s3cret-in-the-call" not in str(caught.value)
        # The server is still there after the refusal.
        assert server.token_requests() == 0


def test_ctrl_c_reaches_the_parent_only() -> None:
    """SIGINT to the child (Ctrl-C at a terminal) keeps it serving; its parent decides."""
    with ServerProcess() as server:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGINT)
        assert _token_request(server, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).status_code == 200
        assert server.token_requests() == 1


def test_a_child_that_died_is_reported_at_once() -> None:
    """A call to a killed child raises a ConfigError naming its exit, instead of hanging."""
    server = ServerProcess()
    try:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(ConfigError, match="exited"):
            server.counts()
        assert time.monotonic() - started < 10
    finally:
        server.close()
