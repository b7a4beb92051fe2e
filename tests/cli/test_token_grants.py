"""``tokensources token --grant token-exchange|jwt-bearer``, through the real script.

The command line runs in a subprocess against the testing server on
loopback; the subject is a token file its workload issuer minted.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio.from_thread
import jwt
import pytest
import trustme

from tests.support.cli import SECRET_ENV, run_cli
from tests.support.mtls import issued, server_context
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

SA = "system:serviceaccount:default:workload"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture
def subject_file(server: AuthorizationServer, tmp_path: Path) -> Path:
    """A projected service-account token for the server, as the kubelet writes it."""
    path = tmp_path / "token"
    path.write_text(server.workload_issuer.mint_kubernetes(audience=server.issuer))
    return path


def _grant_args(server_url: str, grant: str, subject: Path, *extra: str) -> list[str]:
    return [
        "token", "--grant", grant, "--token-url", f"{server_url}/oauth/token",
        "--subject-token-file", str(subject), *extra,
    ]  # fmt: skip


def _access_token(fmt: str, text: str) -> str:
    if fmt == "header":
        assert text.startswith("Authorization: Bearer ")
        return text.removeprefix("Authorization: Bearer ")
    if fmt == "json":
        fields = json.loads(text)
        assert fields["issued_token_type"] == ACCESS_TOKEN
        assert fields["token_type"] == "Bearer"
        return str(fields["access_token"])
    return text


@pytest.mark.parametrize("fmt", ["token", "header", "json"])
def test_public_token_exchange_prints_each_format(
    server: AuthorizationServer, server_url: str, subject_file: Path, fmt: str
) -> None:
    """Without --client-id the exchange is a public client's; each format holds a valid token."""
    outcome = run_cli(*_grant_args(server_url, "token-exchange", subject_file, "--format", fmt))
    assert outcome.code == 0, outcome.stderr
    claims = server.verify_access_token(_access_token(fmt, outcome.stdout.strip()))
    assert claims["sub"] == SA
    (logged,) = server.log.token_requests()
    assert (logged.grant_type, logged.auth_method) == (EXCHANGE, "none")
    assert subject_file.read_text() not in outcome.output


def test_confidential_token_exchange_uses_the_client_flags(
    server: AuthorizationServer, server_url: str, subject_file: Path
) -> None:
    """With --client-id and its secret the exchange is authenticated as that client."""
    args = _grant_args(
        server_url, "token-exchange", subject_file,
        "--client-id", DEMO_CLIENT_ID, "--auth-style", "body",
        "--requested-token-type", "access_token", "--scope", "read:messages",
    )  # fmt: skip
    outcome = run_cli(*args, env={SECRET_ENV: DEMO_CLIENT_SECRET})
    assert outcome.code == 0, outcome.stderr
    claims = server.verify_access_token(outcome.stdout.strip())
    assert (claims["sub"], claims["client_id"], claims["scope"]) == (
        SA,
        DEMO_CLIENT_ID,
        "read:messages",
    )
    assert server.log.token_requests()[-1].auth_method == "client_secret_post"
    assert DEMO_CLIENT_SECRET not in outcome.output


def test_mutual_tls_client_authenticates_an_exchange(
    server: AuthorizationServer, tmp_path: Path
) -> None:
    """A client certificate lends its authentication to the exchange, over real TLS."""
    ca = trustme.CA()
    pair = issued(ca)
    files = {"ca.pem": ca.cert_pem.bytes(), "tls.crt": pair.certificate, "tls.key": pair.key}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    server.register_tls_client("billing", subject_dn=pair.subject)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(server.serve(tls=server_context(ca))) as url,
    ):
        # Served over https, the issuer (the subject's audience) is the https URL.
        subject_file = tmp_path / "token"
        subject_file.write_text(server.workload_issuer.mint_kubernetes(audience=server.issuer))
        args = _grant_args(
            url, "token-exchange", subject_file, "--client-id", "billing",
            "--certificate", str(tmp_path / "tls.crt"), "--private-key", str(tmp_path / "tls.key"),
            "--ca", str(tmp_path / "ca.pem"),
        )  # fmt: skip
        outcome = run_cli(*args)
        assert outcome.code == 0, outcome.stderr
        # Verified while served: the token's issuer is the https one.
        claims = server.verify_access_token(outcome.stdout.strip())
    assert (claims["sub"], claims["client_id"]) == (SA, "billing")
    (logged,) = server.log.token_requests()
    assert (logged.grant_type, logged.auth_method) == (EXCHANGE, "tls_client_auth")


def test_actor_token_file_is_sent_as_the_actor(
    server: AuthorizationServer, server_url: str, subject_file: Path, tmp_path: Path
) -> None:
    """--actor-token-file delegates: the issued token names the actor in its act claim."""
    actor = tmp_path / "actor"
    actor.write_text(server.workload_issuer.mint("gateway", server.issuer))
    args = _grant_args(server_url, "token-exchange", subject_file, "--actor-token-file", str(actor))
    outcome = run_cli(*args, "--actor-token-type", "jwt")
    assert outcome.code == 0, outcome.stderr
    claims = server.verify_access_token(outcome.stdout.strip())
    assert (claims["sub"], claims["act"]["sub"]) == (SA, "gateway")


@pytest.mark.parametrize("grant", ["token-exchange", "jwt-bearer"])
def test_json_body_is_issued_like_a_form(
    server: AuthorizationServer, server_url: str, subject_file: Path, grant: str
) -> None:
    """--body json sends the grant as one JSON object; the token is the same workload's."""
    outcome = run_cli(*_grant_args(server_url, grant, subject_file, "--body", "json"))
    assert outcome.code == 0, outcome.stderr
    assert server.verify_access_token(outcome.stdout.strip())["sub"] == SA
    assert server.log.token_requests()[-1].grant_type == (
        EXCHANGE if grant == "token-exchange" else JWT_BEARER
    )


def test_jwt_bearer_json_format_has_no_issued_token_type(
    server: AuthorizationServer, server_url: str, subject_file: Path
) -> None:
    """The JWT-bearer answer names no issued_token_type, so --format json shows none."""
    outcome = run_cli(*_grant_args(server_url, "jwt-bearer", subject_file, "--format", "json"))
    assert outcome.code == 0, outcome.stderr
    fields = json.loads(outcome.stdout)
    assert "issued_token_type" not in fields
    claims = jwt.decode(fields["access_token"], options={"verify_signature": False})
    assert claims["sub"] == SA


def test_resource_is_sent_as_the_target(
    server: AuthorizationServer, server_url: str, subject_file: Path
) -> None:
    """--resource reaches the server as the exchange's target: one not allowed is invalid_target."""
    args = _grant_args(
        server_url, "token-exchange", subject_file, "--resource", "https://not-allowed.example"
    )
    outcome = run_cli(*args)
    assert outcome.code == 4, outcome.stderr
    assert "invalid_target" in outcome.stderr
    assert server.log.token_requests()[-1].audiences == ("https://not-allowed.example",)


def test_untrusted_subject_is_refused_without_showing_it(
    server: AuthorizationServer, server_url: str, tmp_path: Path
) -> None:
    """A subject from an issuer the server does not trust is invalid_grant, status 4."""
    untrusted = server.workload_issuer.mint("x", server.issuer, issuer="https://elsewhere.example")
    path = tmp_path / "token"
    path.write_text(untrusted)
    outcome = run_cli(*_grant_args(server_url, "token-exchange", path, "--body", "json"))
    assert outcome.code == 4, outcome.stderr
    assert "invalid_grant" in outcome.stderr
    assert untrusted not in outcome.output


def test_a_subject_file_that_is_not_a_jwt_is_a_config_error(
    server: AuthorizationServer, server_url: str, tmp_path: Path
) -> None:
    """A jwt-typed subject whose file holds no JWT is refused before sending, status 3."""
    path = tmp_path / "token"
    path.write_text("opaque-value-not-a-jwt")
    outcome = run_cli(*_grant_args(server_url, "jwt-bearer", path))
    assert outcome.code == 3, outcome.stderr
    assert "opaque-value-not-a-jwt" not in outcome.output
    assert server.counters.token_requests == 0


# A token exchange with the subject file (filled in by the test).
_EXCHANGE = ["--grant", "token-exchange", "--subject-token-file", "{subject}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grant", "token-exchange"], "needs --subject-token-file"),
        (["--grant", "jwt-bearer", "--subject-token-file", "missing"], "no such file"),
        (
            ["--client-id", DEMO_CLIENT_ID, "--subject-token-file", "{subject}"],
            "applies to --grant token-exchange or jwt-bearer",
        ),
        (["--body", "json", "--client-id", DEMO_CLIENT_ID], "--body json applies to --grant"),
        (
            ["--grant", "jwt-bearer", "--subject-token-file", "{subject}", "--resource", "x:y"],
            "--resource applies to --grant token-exchange only",
        ),
        (
            [*_EXCHANGE, "--subject-token-type", "bogus"],
            "--subject-token-type must be an absolute URI",
        ),
        (
            [*_EXCHANGE, "--actor-token-type", "jwt"],
            "--actor-token-type needs --actor-token-file",
        ),
        (
            [*_EXCHANGE, "--private-key", "key.pem"],
            "client authentication flags need --client-id",
        ),
    ],
    ids=[
        "no-subject",
        "missing-file",
        "subject-without-grant",
        "json-client-credentials",
        "resource-jwt-bearer",
        "bad-token-type",
        "actor-type-alone",
        "key-without-client",
    ],
)
def test_bad_flag_combinations_are_config_errors(
    server: AuthorizationServer,
    server_url: str,
    subject_file: Path,
    args: list[str],
    message: str,
) -> None:
    """Flags the grant does not take, or a missing subject, are refused before any request."""
    filled = [arg.replace("{subject}", str(subject_file)) for arg in args]
    outcome = run_cli("token", "--token-url", f"{server_url}/oauth/token", *filled)
    assert outcome.code == 3, outcome.stderr
    assert message in outcome.stderr
    assert server.counters.token_requests == 0


def test_client_credentials_still_needs_a_client_id(server_url: str) -> None:
    """Without --grant, a missing --client-id is the usage error it always was (status 2)."""
    outcome = run_cli("token", "--token-url", f"{server_url}/oauth/token")
    assert outcome.code == 2
    assert "usage:" in outcome.stderr
    assert "--client-id" in outcome.stderr
