"""``tokensources token --dpop-key``: DPoP-bound tokens (RFC 9449), through the real script.

The command line runs in a subprocess against the testing server on
loopback, which checks every proof; the tests are synchronous (the script
runs apart, on its own event loop).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.cli.mutual_tls_server import serve_mutual_tls
from tests.support.cli import SECRET_ENV, run_cli
from tokensources import DPoPKey, Token
from tokensources.cli._token import format_token
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

DEMO_ENV = {SECRET_ENV: DEMO_CLIENT_SECRET}
LONG_SECRET = "a-client-secret-long-enough-for-hs256-hs384-and-hs512-as-well-too"
PASSWORD_ENV = "DPOP_KEY_PASSWORD"
PASSWORD = "correct-horse-battery"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A P-256 private key as a PKCS#8 PEM file."""
    path = tmp_path / "dpop.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    return path


def _token_args(server_url: str, *extra: str) -> list[str]:
    return [
        "token", "--token-url", f"{server_url}/oauth/token", "--client-id", DEMO_CLIENT_ID,
        *extra,
    ]  # fmt: skip


def _fields(stdout: str) -> dict[str, object]:
    fields = json.loads(stdout)
    assert isinstance(fields, dict)
    return fields


def test_a_required_dpop_client_gets_a_bound_token(
    server: AuthorizationServer, server_url: str, key_file: Path
) -> None:
    """--dpop-key: token_type DPoP, jkt the key's, cnf.jkt in the token, the proof's key logged."""
    server.dpop.require(DEMO_CLIENT_ID)
    refused = run_cli(*_token_args(server_url), env=DEMO_ENV)
    outcome = run_cli(
        *_token_args(server_url, "--dpop-key", str(key_file), "--format", "json"), env=DEMO_ENV
    )
    assert refused.code == 4
    assert "invalid_dpop_proof" in refused.stderr
    assert outcome.code == 0, outcome.stderr
    fields = _fields(outcome.stdout)
    thumbprint = DPoPKey(key_file.read_bytes()).thumbprint
    assert sorted(fields) == ["access_token", "expires_at", "jkt", "scope", "token_type"]
    assert (fields["token_type"], fields["jkt"]) == ("DPoP", thumbprint)
    claims = server.verify_access_token(str(fields["access_token"]))
    assert claims["cnf"] == {"jkt": thumbprint}
    (logged,) = server.log.assert_token_requests(1, status=200)
    assert (logged.dpop_proof, logged.dpop_jkt) == (True, thumbprint)
    assert server.dpop.counters.bound_tokens == 1
    assert "PRIVATE KEY" not in outcome.output


def test_the_printed_token_works_with_proofs_of_the_same_key(
    server: AuthorizationServer, server_url: str, key_file: Path
) -> None:
    """The demo API accepts the printed token with a proof signed by the key file's key."""
    outcome = run_cli(
        *_token_args(server_url, "--dpop-key", str(key_file), "--scope", "read:messages"),
        env=DEMO_ENV,
    )
    assert outcome.code == 0, outcome.stderr
    access_token = outcome.stdout.strip()
    key = DPoPKey(key_file.read_bytes())
    url = f"{server_url}/api/private"
    with httpx.Client() as http:
        bare = http.get(url, headers={"Authorization": f"DPoP {access_token}"})
        proven = http.get(
            url,
            headers={
                "Authorization": f"DPoP {access_token}",
                "DPoP": key.proof("GET", url, access_token=access_token),
            },
        )
    assert bare.status_code == 401
    assert proven.status_code == 200, proven.text
    assert server.log.requests(endpoint="api", status=200)[-1].dpop_jkt == key.thumbprint


def test_nonces_demanded_by_the_server_are_learned(
    server: AuthorizationServer, server_url: str, key_file: Path
) -> None:
    """With nonces required: one use_dpop_nonce answer, one retry with it, a bound token."""
    server.dpop.require(DEMO_CLIENT_ID)
    server.dpop.require_nonce = True
    outcome = run_cli(
        *_token_args(server_url, "--dpop-key", str(key_file), "--format", "json"), env=DEMO_ENV
    )
    assert outcome.code == 0, outcome.stderr
    assert _fields(outcome.stdout)["token_type"] == "DPoP"
    first, second = server.log.assert_token_requests(2)
    assert (first.status, first.error) == (400, "use_dpop_nonce")
    assert second.status == 200
    counters = server.dpop.counters
    assert (counters.nonce_challenges, counters.accepted, counters.bound_tokens) == (1, 1, 1)


def test_a_bearer_token_has_no_jkt(server: AuthorizationServer, server_url: str) -> None:
    """Without --dpop-key nothing changes: a Bearer token and no jkt field."""
    outcome = run_cli(*_token_args(server_url, "--format", "json"), env=DEMO_ENV)
    assert outcome.code == 0, outcome.stderr
    fields = _fields(outcome.stdout)
    assert fields["token_type"] == "Bearer"
    assert "jkt" not in fields
    assert server.log.token_requests()[-1].dpop_proof is False


@pytest.fixture
def subject_file(server: AuthorizationServer, tmp_path: Path) -> Path:
    """A projected service-account token for the server, as the kubelet writes it."""
    path = tmp_path / "token"
    path.write_text(server.workload_issuer.mint_kubernetes(audience=server.issuer))
    return path


def _rsa_client(server: AuthorizationServer, tmp_path: Path) -> Path:
    """A private_key_jwt client "signer" whose key is in the returned file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    server.register_client("signer", jwks={"keys": [{**public_jwk, "kid": "k1"}]})
    path = tmp_path / "client-key.pem"
    path.write_bytes(_pem(key))
    return path


@pytest.mark.parametrize(
    "method", ["secret", "client_secret_jwt", "private_key_jwt", "token-exchange", "jwt-bearer"]
)
def test_every_grant_and_method_binds_its_token(
    server: AuthorizationServer,
    server_url: str,
    key_file: Path,
    subject_file: Path,
    tmp_path: Path,
    method: str,
) -> None:
    """Each client authentication and each grant sends a proof and gets a DPoP-bound token."""
    url = f"{server_url}/oauth/token"
    env: dict[str, str] = {}
    if method == "secret":
        args, env = _token_args(server_url), DEMO_ENV
    elif method == "client_secret_jwt":
        server.register_client("hmac", LONG_SECRET)
        args = ["token", "--token-url", url, "--client-id", "hmac", "--client-secret-jwt"]
        env = {SECRET_ENV: LONG_SECRET}
    elif method == "private_key_jwt":
        client_key = _rsa_client(server, tmp_path)
        args = [
            "token", "--token-url", url, "--client-id", "signer",
            "--private-key", str(client_key), "--key-id", "k1",
        ]  # fmt: skip
    else:
        args = ["token", "--grant", method, "--token-url", url]
        args += ["--subject-token-file", str(subject_file)]
    outcome = run_cli(*args, "--dpop-key", str(key_file), "--format", "json", env=env)
    assert outcome.code == 0, outcome.stderr
    thumbprint = DPoPKey(key_file.read_bytes()).thumbprint
    fields = _fields(outcome.stdout)
    assert (fields["token_type"], fields["jkt"]) == ("DPoP", thumbprint)
    (logged,) = server.log.assert_token_requests(1, status=200)
    assert logged.dpop_jkt == thumbprint


@pytest.fixture
def https_url(server: AuthorizationServer, tmp_path: Path) -> Iterator[str]:
    """The server over HTTPS on loopback; its CA file and a client certificate in tmp_path."""
    with serve_mutual_tls(server, tmp_path) as url:
        yield url


def test_mutual_tls_binds_its_token_to_the_dpop_key(
    server: AuthorizationServer, https_url: str, key_file: Path, tmp_path: Path
) -> None:
    """With a client certificate too, the proof goes along and the token is DPoP-bound."""
    args = [
        "token", "--token-url", f"{https_url}/oauth/token", "--client-id", "billing",
        "--certificate", str(tmp_path / "tls.crt"), "--private-key", str(tmp_path / "tls.key"),
        "--ca", str(tmp_path / "ca.pem"), "--dpop-key", str(key_file), "--format", "json",
    ]  # fmt: skip
    outcome = run_cli(*args)
    assert outcome.code == 0, outcome.stderr
    thumbprint = DPoPKey(key_file.read_bytes()).thumbprint
    assert _fields(outcome.stdout)["jkt"] == thumbprint
    (logged,) = server.log.assert_token_requests(1, status=200)
    assert (logged.auth_method, logged.dpop_jkt) == ("tls_client_auth", thumbprint)


def test_an_encrypted_key_is_opened_with_the_password_from_the_environment(
    server: AuthorizationServer, server_url: str, tmp_path: Path
) -> None:
    """An encrypted PEM needs --dpop-key-password-env; the password is never shown."""
    key = ec.generate_private_key(ec.SECP384R1())
    path = tmp_path / "encrypted.pem"
    path.write_bytes(_pem(key, PASSWORD))
    base = _token_args(server_url, "--dpop-key", str(path), "--format", "json")
    without = run_cli(*base, env=DEMO_ENV)
    wrong = run_cli(
        *base, "--dpop-key-password-env", PASSWORD_ENV, env={**DEMO_ENV, PASSWORD_ENV: "nope"}
    )
    outcome = run_cli(
        *base, "--dpop-key-password-env", PASSWORD_ENV, env={**DEMO_ENV, PASSWORD_ENV: PASSWORD}
    )
    assert without.code == wrong.code == 3
    assert "--dpop-key-password-env" in without.stderr
    assert "wrong password" in wrong.stderr
    assert outcome.code == 0, outcome.stderr
    fields = _fields(outcome.stdout)
    assert fields["jkt"] == DPoPKey(key).thumbprint
    assert server.log.token_requests(status=200)[-1].dpop_jkt == fields["jkt"]
    for run in (without, wrong, outcome):
        assert PASSWORD not in run.output


def test_a_jwk_key_file_and_its_algorithm(
    server: AuthorizationServer, server_url: str, tmp_path: Path
) -> None:
    """A private JWK file works, with --dpop-algorithm naming another algorithm for its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dpop.jwk"
    path.write_text(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    outcome = run_cli(
        *_token_args(server_url, "--dpop-key", str(path), "--dpop-algorithm", "PS256"),
        env=DEMO_ENV,
    )
    assert outcome.code == 0, outcome.stderr
    assert server.log.token_requests(status=200)[-1].dpop_jkt == DPoPKey(key).thumbprint


def test_a_server_without_dpop_gives_a_bearer_token_and_one_warning(
    server: AuthorizationServer, server_url: str, key_file: Path
) -> None:
    """A server that ignores DPoP: exit 0, a Bearer token without jkt, one warning line."""
    server.dpop.supported = False
    outcome = run_cli(
        *_token_args(server_url, "--dpop-key", str(key_file), "--format", "json"), env=DEMO_ENV
    )
    assert outcome.code == 0, outcome.stderr
    fields = _fields(outcome.stdout)
    assert fields["token_type"] == "Bearer"
    assert "jkt" not in fields
    (line,) = outcome.stderr.splitlines()
    assert line.startswith("tokensources: warning: ")
    assert "answered a DPoP token request with a Bearer token" in line
    assert str(fields["access_token"]) not in outcome.stderr


def test_format_token_shows_the_binding() -> None:
    """A bound token: header "DPoP <token>", and json with jkt after the four fields."""
    token = Token("abc", token_type="DPoP", expires_at=100.0, scope=None, jkt="j" * 43)
    assert format_token(token, "header") == "Authorization: DPoP abc"
    assert format_token(token, "token") == "abc"
    assert json.loads(format_token(token, "json")) == {
        "access_token": "abc",
        "token_type": "DPoP",
        "expires_at": 100.0,
        "scope": None,
        "jkt": "j" * 43,
    }
