"""``tokensources serve`` in a child process: ready line, banner, config files, flags, Ctrl-C."""

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
import jwt
import pytest

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


_SERVER_TOML = """\
token_lifetime = 600

[[clients]]
client_id = "billing"
secret = "b1lling-s3cret"
scopes = ["read:messages"]

[[claims]]
client_id = "billing"
claims = { sub = "svc:${client_id}", tenant = "root" }

[[issuers]]
name = "acme"
token_lifetime = 60

[[issuers.clients]]
client_id = "reports"
secret = "r3ports-s3cret"

[[issuers.claims]]
claims = { tenant = "${tenant}" }
"""


def _claims(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    claims: dict[str, Any] = jwt.decode(
        answer.json()["access_token"], options={"verify_signature": False}
    )
    return claims


def test_a_config_file_sets_up_issuers_clients_and_claims(tmp_path: Path) -> None:
    """--config (TOML) gives each issuer its clients, mappings and lifetime; the page is printed."""
    config = tmp_path / "server.toml"
    config.write_text(_SERVER_TOML)
    form = {"grant_type": "client_credentials"}
    with _serving("--config", str(config), "--no-demo-client") as (process, ready):
        url = ready["url"]
        acme = ready["issuers"]["acme"]
        assert acme == {"issuer": f"{url}/acme", "token_endpoint": f"{url}/acme/oauth/token"}
        assert ready["debug"] == f"{url}/_debug"
        assert ready["token_lifetime"] == 600
        with httpx.Client(timeout=10) as http:
            root = http.post(ready["token_endpoint"], data=form, auth=("billing", "b1lling-s3cret"))
            tenant = http.post(
                acme["token_endpoint"], data=form, auth=("reports", "r3ports-s3cret")
            )
            elsewhere = http.post(
                acme["token_endpoint"], data=form, auth=("billing", "b1lling-s3cret")
            )
            page = http.get(ready["debug"])
        _stdout, banner = _stop(process)
    assert process.returncode == 0, banner
    root_claims, tenant_claims = _claims(root), _claims(tenant)
    assert (root_claims["sub"], root_claims["tenant"]) == ("svc:billing", "root")
    assert (tenant_claims["iss"], tenant_claims["tenant"]) == (f"{url}/acme", "acme")
    assert root.json()["expires_in"] == 600
    assert tenant.json()["expires_in"] == 60
    assert elsewhere.status_code == 401  # each issuer has its own clients
    assert page.status_code == 200
    assert "reports" in page.text
    assert f"debug page      {url}/_debug" in banner
    assert f"token endpoint  {url}/acme/oauth/token" in banner
    assert "clients         billing" in banner
    assert "s3cret" not in banner
    assert "demo-secret" not in banner


def test_strict_and_quota_flags_apply_to_every_issuer() -> None:
    """--strict refuses a secret in the URL and --quota answers 429, on every issuer."""
    form = {"grant_type": "client_credentials"}
    demo = ("demo-client", "demo-secret")
    with _serving("--tenant", "acme", "--strict", "--quota", "1/3600") as (process, ready):
        assert ready["strict"] is True
        with httpx.Client(timeout=10) as http:
            answers = {
                name: [http.post(endpoint, data=form, auth=demo) for _ in range(2)]
                for name, endpoint in (
                    ("root", ready["token_endpoint"]),
                    ("acme", ready["issuers"]["acme"]["token_endpoint"]),
                )
            }
            in_url = http.post(
                ready["token_endpoint"] + "?client_secret=demo-secret",
                data={**form, "client_id": "demo-client"},
            )
        _stdout, banner = _stop(process)
    assert process.returncode == 0, banner
    for first, second in answers.values():
        assert (first.status_code, second.status_code) == (200, 429)
        assert second.json()["error"] == "too_many_requests"
        assert 3590 <= int(second.headers["retry-after"]) <= 3600
    assert in_url.status_code == 400
    assert in_url.json()["error_description"].startswith("strict mode:")
    assert banner.count("mode            strict") == 2
    assert banner.count("quota           1 tokens per 3600 s for each client") == 2


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "unknown.json",
            '{\n  "clients": [\n    {"client_id": "a", "secret": "file-s3cret",\n'
            '     "scopez": ["x"]}\n  ]\n}\n',
            ":4: clients[0].scopez: unknown field",
        ),
        (
            "template.json",
            '{"claims": [\n  {"claims": {"sub": "${clientid}"}}\n]}\n',
            ":2: claims[0].claims: ",
        ),
        (
            "twice.json",
            '{"issuers": [\n  {"name": "acme"},\n  {"name": "acme"}\n]}\n',
            ":3: issuers[1].name: the issuer 'acme' is already issuers[0]",
        ),
        ("broken.toml", "strict = true\nclients = [\n", ":"),
    ],
)
def test_a_bad_config_file_stops_serve_naming_file_line_and_field(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """A config file the server cannot be gives status 3 and one line: file, line and field."""
    path = tmp_path / name
    path.write_text(text)
    outcome = run_cli("serve", "--port", "0", "--config", str(path), timeout=30)
    assert outcome.code == 3, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith(f"tokensources: error: {path}{expected}"), lines[0]
    assert "file-s3cret" not in outcome.output
    assert outcome.stdout == ""


@pytest.mark.parametrize("value", ["0/60", "5", "5/0", "5/x", "-1/60"])
def test_a_bad_quota_is_a_usage_error(value: str) -> None:
    """--quota must be TOKENS/SECONDS with both positive; anything else is status 2."""
    outcome = run_cli("serve", "--port", "0", "--quota", value, timeout=30)
    assert outcome.code == 2
    assert "argument --quota" in outcome.stderr


def test_a_bad_tenant_name_is_a_config_error() -> None:
    """--tenant with a name that cannot be a path segment gives status 3 naming the flag."""
    outcome = run_cli("serve", "--port", "0", "--tenant", "oauth", timeout=30)
    assert outcome.code == 3
    assert outcome.stderr.startswith("tokensources: error: --tenant: ")
