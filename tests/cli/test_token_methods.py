"""``tokensources token`` with client_secret_jwt and mutual TLS, through the real script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.mutual_tls_server import serve_mutual_tls
from tests.support.cli import SECRET_ENV, run_cli
from tokensources.testing import AuthorizationServer

LONG_SECRET = "a-client-secret-long-enough-for-hs256-hs384-and-hs512-as-well-too"


def test_client_secret_jwt(server: AuthorizationServer, server_url: str) -> None:
    """--client-secret-jwt MACs an assertion with the secret; the secret never travels."""
    server.register_client("hmac", LONG_SECRET)
    args = [
        "token", "--token-url", f"{server_url}/oauth/token", "--client-id", "hmac",
        "--client-secret-jwt", "--algorithm", "HS384",
    ]  # fmt: skip
    outcome = run_cli(*args, env={SECRET_ENV: LONG_SECRET})
    assert outcome.code == 0, outcome.stderr
    assert server.verify_access_token(outcome.stdout.strip())["sub"] == "hmac"
    assert server.log.token_requests()[-1].auth_method == "client_secret_jwt"
    assert LONG_SECRET not in outcome.output


def test_rfc_7523bis_options_pass_a_strict_server(
    server: AuthorizationServer, server_url: str
) -> None:
    """--assertion-audience issuer and --assertion-typ, with --issuer, satisfy strict mode."""
    server.register_client("hmac", LONG_SECRET)
    server.strict = True
    base = ["token", "--issuer", server_url, "--client-id", "hmac", "--client-secret-jwt"]
    refused = run_cli(*base, env={SECRET_ENV: LONG_SECRET})
    outcome = run_cli(
        *base,
        "--assertion-audience", "issuer",
        "--assertion-typ", "client-authentication+jwt",
        env={SECRET_ENV: LONG_SECRET},
    )  # fmt: skip
    assert refused.code != 0
    assert "invalid_client" in refused.stderr
    assert outcome.code == 0, outcome.stderr


def test_a_secret_too_short_for_client_secret_jwt_is_a_config_error(server_url: str) -> None:
    """A short secret is refused before any request, without showing it (status 3)."""
    args = ["token", "--token-url", f"{server_url}/oauth/token", "--client-id", "x"]
    outcome = run_cli(*args, "--client-secret-jwt", env={SECRET_ENV: "short-secret"})
    assert outcome.code == 3, outcome.stderr
    assert "short-secret" not in outcome.output
    assert "HS256 needs at least 32" in outcome.stderr


@pytest.fixture
def https_url(server: AuthorizationServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The server over HTTPS on loopback; the CA file and a client certificate in tmp_path."""
    with serve_mutual_tls(server, tmp_path) as url:
        yield url, tmp_path


def test_mutual_tls(server: AuthorizationServer, https_url: tuple[str, Path]) -> None:
    """--certificate, --private-key and --ca get a certificate-bound token over mutual TLS."""
    url, files = https_url
    args = [
        "token", "--token-url", f"{url}/oauth/token", "--client-id", "billing",
        "--certificate", str(files / "tls.crt"), "--private-key", str(files / "tls.key"),
        "--ca", str(files / "ca.pem"), "--format", "json",
    ]  # fmt: skip
    outcome = run_cli(*args)
    assert outcome.code == 0, outcome.stderr
    assert server.log.token_requests()[-1].auth_method == "tls_client_auth"
    assert "PRIVATE KEY" not in outcome.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--certificate", "tls.crt"], "--certificate needs --private-key"),
        (["--ca", "ca.pem"], "--ca applies to mutual TLS only"),
        (["--client-secret-jwt", "--private-key", "k.pem"], "drop --private-key"),
        (["--assertion-typ", "x"], "need --client-secret-jwt or --private-key"),
    ],
)
def test_flags_of_different_methods_do_not_mix(extra: list[str], message: str) -> None:
    """A flag that belongs to another method than the others choose is status 3, saying so."""
    args = ["token", "--token-url", "https://auth.example.com/t", "--client-id", "x"]
    outcome = run_cli(*args, *extra, env={SECRET_ENV: LONG_SECRET})
    assert outcome.code == 3, outcome.stderr
    assert message in outcome.stderr


def test_a_value_given_to_client_secret_jwt_is_refused_unechoed() -> None:
    """--client-secret-jwt=VALUE puts a value on the command line: refused without echoing it."""
    args = ["token", "--token-url", "https://auth.example.com/t", "--client-id", "x"]
    outcome = run_cli(*args, "--client-secret-jwt=hunter2-hunter2")
    assert outcome.code == 2
    assert "hunter2" not in outcome.output
