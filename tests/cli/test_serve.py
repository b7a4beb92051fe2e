"""``tokensources serve`` in a child process: banner, discovery, clients file, Ctrl-C."""

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

import httpx

from .conftest import SECRET_ENV, console_script, run_cli


def _read_until_issuer(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """The issuer URL from the banner, and the whole banner."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
            if line.startswith("Ctrl-C"):
                return
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = ""
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            break
        seen += line
        if line.startswith("Ctrl-C"):
            issuer = next(x for x in seen.splitlines() if x.strip().startswith("issuer"))
            return issuer.split()[-1], seen
    raise AssertionError(f"no issuer line in: {seen!r}")


@contextmanager
def _serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    process = subprocess.Popen(
        [*console_script(), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url, banner = _read_until_issuer(process)
        yield process, url, banner
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_serve_answers_discovery_and_stops_cleanly_on_sigint() -> None:
    """The served discovery document names the printed issuer; SIGINT stops with status 0."""
    with _serving("--token-lifetime", "60") as (process, url, banner):
        assert url.startswith("http://127.0.0.1:")
        assert "demo-client" in banner
        assert "demo-secret" in banner
        assert f"{url}/oauth/token" in banner
        document = httpx.get(f"{url}/.well-known/openid-configuration", timeout=10).json()
        assert document["issuer"] == url
        assert document["token_endpoint"] == f"{url}/oauth/token"
        token = run_cli(
            "token", "--token-url", f"{url}/oauth/token", "--client-id", "demo-client",
            "--format", "json",
            env={SECRET_ENV: "demo-secret"},
        )  # fmt: skip
        assert token.code == 0, token.stderr
        assert json.loads(token.stdout)["expires_at"] <= time.time() + 60
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "stopped after 1 token requests and 0 API requests" in stdout


def test_sigterm_stops_cleanly_too() -> None:
    """SIGTERM stops the server with status 0, as Ctrl-C does."""
    with _serving() as (process, _url, _banner):
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr


def test_clients_file_registers_clients(tmp_path: Path) -> None:
    """Clients from --clients get tokens with their own secret and scopes."""
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            [{"client_id": "billing", "secret": "b1lling-s3cret", "scopes": ["read:messages"]}]
        )
    )
    with _serving("--clients", str(clients), "--no-demo-client") as (process, url, banner):
        assert "demo-secret" not in banner
        args = ["token", "--token-url", f"{url}/oauth/token", "--client-id", "billing"]
        good = run_cli(*args, "--format", "json", env={SECRET_ENV: "b1lling-s3cret"})
        demo = run_cli(
            "token", "--token-url", f"{url}/oauth/token", "--client-id", "demo-client",
            env={SECRET_ENV: "demo-secret"},
        )  # fmt: skip
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
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
