"""``tokensources token`` against the testing server on loopback, through the real script."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cli import SECRET_ENV, run_cli
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

DEMO_ENV = {SECRET_ENV: DEMO_CLIENT_SECRET}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _token_args(server_url: str, *extra: str) -> list[str]:
    return [
        "token",
        "--token-url",
        f"{server_url}/oauth/token",
        "--client-id",
        DEMO_CLIENT_ID,
        *extra,
    ]


@pytest.mark.parametrize("fmt", ["token", "header", "json"])
def test_each_format_prints_a_valid_token(
    server: AuthorizationServer, server_url: str, fmt: str
) -> None:
    """Each --format prints a token the server itself accepts, in that format."""
    outcome = run_cli(*_token_args(server_url, "--format", fmt), env=DEMO_ENV)
    assert outcome.code == 0, outcome.stderr
    assert outcome.stderr == ""
    text = outcome.stdout.strip()
    if fmt == "header":
        assert text.startswith("Authorization: Bearer ")
        access_token = text.removeprefix("Authorization: Bearer ")
    elif fmt == "json":
        fields = json.loads(text)
        assert sorted(fields) == ["access_token", "expires_at", "scope", "token_type"]
        assert fields["token_type"] == "Bearer"
        assert fields["expires_at"] > time.time()
        access_token = fields["access_token"]
    else:
        access_token = text
    claims = server.verify_access_token(access_token)
    assert claims["sub"] == DEMO_CLIENT_ID
    assert server.counters.token_requests == 1
    assert DEMO_CLIENT_SECRET not in outcome.output


def test_scope_audience_and_auth_style_reach_the_server(
    server: AuthorizationServer, server_url: str
) -> None:
    """--scope, --audience and --auth-style body shape the one token request."""
    args = _token_args(
        server_url,
        "--scope", "read:messages",
        "--audience", server.audience,
        "--auth-style", "body",
        "--format", "json",
    )  # fmt: skip
    outcome = run_cli(*args, env=DEMO_ENV)
    assert outcome.code == 0, outcome.stderr
    fields = json.loads(outcome.stdout)
    claims = server.verify_access_token(fields["access_token"])
    assert claims["scope"] == "read:messages"
    assert fields["scope"] == "read:messages"
    assert server.counters.token_requests == 1


def test_secret_from_stdin_and_a_named_variable(
    server: AuthorizationServer, server_url: str
) -> None:
    """The secret is read from stdin, or from the variable --client-secret-env names."""
    from_stdin = run_cli(
        *_token_args(server_url, "--client-secret-stdin"), stdin=DEMO_CLIENT_SECRET + "\n"
    )
    named = run_cli(
        *_token_args(server_url, "--client-secret-env", "MY_SECRET"),
        env={"MY_SECRET": DEMO_CLIENT_SECRET},
    )
    assert (from_stdin.code, named.code) == (0, 0), from_stdin.stderr + named.stderr
    assert server.counters.tokens_issued == 2


def test_issuer_discovery(server: AuthorizationServer, server_url: str) -> None:
    """--issuer finds the token endpoint through the discovery document."""
    args = ["token", "--issuer", server_url, "--client-id", DEMO_CLIENT_ID]
    outcome = run_cli(*args, env=DEMO_ENV)
    assert outcome.code == 0, outcome.stderr
    assert server.counters.discovery_requests >= 1
    assert server.counters.tokens_issued == 1


def test_missing_secret_is_a_config_error() -> None:
    """No secret anywhere: status 3 and one line naming the variable, before any request."""
    outcome = run_cli(*_token_args(f"http://127.0.0.1:{_closed_port()}"))
    assert outcome.code == 3
    assert outcome.stdout == ""
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tokensources: error: no client secret")
    assert SECRET_ENV in lines[0]


def test_empty_stdin_is_a_config_error() -> None:
    """--client-secret-stdin with nothing on stdin: status 3."""
    outcome = run_cli(*_token_args("http://127.0.0.1:9", "--client-secret-stdin"), stdin="")
    assert outcome.code == 3
    assert "standard input" in outcome.stderr


def test_insecure_url_is_a_config_error() -> None:
    """Plain http to a non-loopback host is refused (status 3) and the secret is not shown."""
    args = ["token", "--token-url", "http://auth.example.com/token", "--client-id", "x"]
    outcome = run_cli(*args, env={SECRET_ENV: "s3cret-value"})
    assert outcome.code == 3
    assert "plain http" in outcome.stderr
    assert "s3cret-value" not in outcome.output


def test_unreachable_url_is_a_network_error() -> None:
    """A closed loopback port: status 5 and one line, no traceback, no secret."""
    url = f"http://127.0.0.1:{_closed_port()}"
    outcome = run_cli(*_token_args(url), env={SECRET_ENV: "s3cret-value"})
    assert outcome.code == 5
    assert outcome.stdout == ""
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert "Traceback" not in outcome.stderr
    assert "s3cret-value" not in outcome.output


@pytest.mark.parametrize("style", ["auto", "header", "body"])
def test_wrong_secret_is_an_endpoint_error(
    server: AuthorizationServer, server_url: str, style: str
) -> None:
    """A wrong secret: status 4, invalid_client named, the secret never printed."""
    wrong = "wrong-secret-4711"
    outcome = run_cli(*_token_args(server_url, "--auth-style", style), env={SECRET_ENV: wrong})
    assert outcome.code == 4
    assert outcome.stdout == ""
    assert "invalid_client" in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert wrong not in outcome.output
    assert server.counters.token_requests == (2 if style == "auto" else 1)


def _rsa_key_files(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public_jwk["kid"] = "k1"
    return path, public_jwk


def test_private_key_jwt(server: AuthorizationServer, server_url: str, tmp_path: Path) -> None:
    """--private-key signs a client assertion the server accepts; no secret is needed."""
    key_path, public_jwk = _rsa_key_files(tmp_path)
    server.register_client("signer", jwks={"keys": [public_jwk]})
    args = [
        "token", "--token-url", f"{server_url}/oauth/token", "--client-id", "signer",
        "--private-key", str(key_path), "--key-id", "k1", "--algorithm", "RS256",
    ]  # fmt: skip
    outcome = run_cli(*args)
    assert outcome.code == 0, outcome.stderr
    assert server.verify_access_token(outcome.stdout.strip())["sub"] == "signer"
    assert "PRIVATE KEY" not in outcome.output


def test_unreadable_or_damaged_key_is_a_config_error(tmp_path: Path) -> None:
    """A missing key file and a damaged one both give status 3 without key material."""
    damaged = tmp_path / "damaged.pem"
    damaged.write_text(
        "-----BEGIN PRIVATE KEY-----\nnot-base64-material\n-----END PRIVATE KEY-----\n"
    )
    for path in (tmp_path / "missing.pem", damaged):
        args = ["token", "--token-url", "https://auth.example.com/t", "--client-id", "x"]
        outcome = run_cli(*args, "--private-key", str(path))
        assert outcome.code == 3, outcome.stderr
        assert "not-base64-material" not in outcome.output
        assert len(outcome.stderr.strip().splitlines()) == 1


def test_param_adds_a_form_field(server: AuthorizationServer, server_url: str) -> None:
    """--param resource=... reaches the token endpoint and becomes the token's audience."""
    args = _token_args(server_url, "--param", f"resource={server.audience}")
    outcome = run_cli(*args, env=DEMO_ENV)
    assert outcome.code == 0, outcome.stderr
    assert server.verify_access_token(outcome.stdout.strip())["aud"] == server.audience


def test_param_the_server_refuses_is_an_endpoint_error(server_url: str) -> None:
    """An audience the client may not have is refused by the server: status 4."""
    args = _token_args(server_url, "--param", "resource=https://other.example.com")
    outcome = run_cli(*args, env=DEMO_ENV)
    assert outcome.code == 4
    assert DEMO_CLIENT_SECRET not in outcome.output
