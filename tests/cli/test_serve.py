"""``tokensources serve`` in a child process: ready line, banner, clients file, Ctrl-C."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import SECRET_ENV, console_script, run_cli
from tokensources.cli._redis import free_port


def _ready_line(process: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    """The JSON line ``--ready-json`` prints once the server listens."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        lines.put(process.stdout.readline())

    threading.Thread(target=pump, daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no ready line from tokensources serve") from None
    ready: dict[str, Any] = json.loads(line)
    return ready


@contextmanager
def _serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    process = subprocess.Popen(
        [*console_script(), "serve", "--port", "0", "--ready-json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, _ready_line(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[str, str]:
    """Send ``sig``, wait for the exit; the rest of stdout (after the ready line) and stderr."""
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=20)
    return stdout, stderr


def test_ready_json_names_the_chosen_port_and_the_endpoints() -> None:
    """With --port 0 the ready line gives the URL actually served and its endpoints."""
    with _serving("--token-lifetime", "60") as (process, ready):
        url = ready["url"]
        assert ready["event"] == "ready"
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        assert ready["token_lifetime"] == 60
        document = httpx.get(ready["discovery"], timeout=10).json()
        assert document["issuer"] == ready["issuer"] == url
        assert document["token_endpoint"] == ready["token_endpoint"] == f"{url}/oauth/token"
        assert document["jwks_uri"] == ready["jwks_uri"]
        assert httpx.get(ready["api"], timeout=10).status_code == 401
        stdout, stderr = _stop(process)
    assert process.returncode == 0, stderr
    # stdout holds JSON lines only; the banner went to stderr.
    assert [json.loads(line)["event"] for line in stdout.splitlines()] == ["stopped"]
    assert "tokensources testing server" in stderr


def test_serve_answers_discovery_and_stops_cleanly_on_sigint() -> None:
    """The served discovery document names the printed issuer; SIGINT stops with status 0."""
    with _serving("--token-lifetime", "60") as (process, ready):
        url = ready["url"]
        token = run_cli(
            "token", "--token-url", f"{url}/oauth/token", "--client-id", "demo-client",
            "--format", "json",
            env={SECRET_ENV: "demo-secret"},
        )  # fmt: skip
        assert token.code == 0, token.stderr
        assert json.loads(token.stdout)["expires_at"] <= time.time() + 60
        stdout, banner = _stop(process)
    assert process.returncode == 0, banner
    assert "Traceback" not in banner
    assert "demo-client" in banner
    assert "demo-secret" in banner
    assert f"{url}/oauth/token" in banner
    assert "stopped after 1 token request and 0 API requests" in banner
    stopped = json.loads(stdout)
    assert stopped["event"] == "stopped"
    assert (stopped["token_requests"], stopped["api_requests"]) == (1, 0)


def test_without_ready_json_the_banner_is_on_stdout() -> None:
    """Run as a person runs it, the banner and the closing counts are on stdout, no JSON."""
    port = free_port()
    process = subprocess.Popen(
        [*console_script(), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/public", timeout=1).is_success:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tokensources serve did not start"
                time.sleep(0.05)
        stdout, stderr = _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert f"token endpoint  http://127.0.0.1:{port}/oauth/token" in stdout
    assert "stopped after 0 token requests and 1 API request, using" in stdout
    assert "{" not in stdout
    assert stderr == ""


def test_sigterm_stops_cleanly_too() -> None:
    """SIGTERM stops the server with status 0, as Ctrl-C does."""
    with _serving() as (process, _ready):
        _stdout, stderr = _stop(process, signal.SIGTERM)
        assert process.returncode == 0, stderr


def test_clients_file_registers_clients(tmp_path: Path) -> None:
    """Clients from --clients get tokens with their own secret and scopes."""
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            [{"client_id": "billing", "secret": "b1lling-s3cret", "scopes": ["read:messages"]}]
        )
    )
    with _serving("--clients", str(clients), "--no-demo-client") as (process, ready):
        url = ready["url"]
        args = ["token", "--token-url", f"{url}/oauth/token", "--client-id", "billing"]
        good = run_cli(*args, "--format", "json", env={SECRET_ENV: "b1lling-s3cret"})
        demo = run_cli(
            "token", "--token-url", f"{url}/oauth/token", "--client-id", "demo-client",
            env={SECRET_ENV: "demo-secret"},
        )  # fmt: skip
        _stdout, banner = _stop(process)
    assert "demo-secret" not in banner
    assert good.code == 0, good.stderr
    assert json.loads(good.stdout)["scope"] == "read:messages"
    assert demo.code == 4
    assert process.returncode == 0


def test_bad_clients_file_is_a_config_error(tmp_path: Path) -> None:
    """A clients file that is not JSON, or a client without an id, gives status 3."""
    not_json = tmp_path / "a.json"
    not_json.write_text("{nope")
    no_id = tmp_path / "b.json"
    no_id.write_text(json.dumps({"clients": [{"secret": "x"}]}))
    for path in (not_json, no_id, tmp_path / "missing.json"):
        outcome = run_cli("serve", "--port", "0", "--clients", str(path))
        assert outcome.code == 3, outcome.stderr
        assert outcome.stderr.startswith("tokensources: error: ")


def test_port_in_use_is_a_config_error() -> None:
    """A port that is taken gives status 3 and one line saying so."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        outcome = run_cli("serve", "--port", str(port), timeout=30)
    assert outcome.code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
