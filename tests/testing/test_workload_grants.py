"""The testing server's token exchange and JWT-bearer grants, and its workload issuer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    AuthorizationServer,
    KubernetesTokenFile,
)

pytestmark = pytest.mark.anyio

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


async def _post(
    http: httpx.AsyncClient, form: dict[str, str], *, auth: bool = True
) -> httpx.Response:
    if not auth:
        return await http.post("/oauth/token", data=form)
    return await http.post("/oauth/token", data=form, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))


def _subject(server: AuthorizationServer, **kwargs: Any) -> str:
    return server.workload_issuer.mint_kubernetes(audience=server.issuer, **kwargs)


async def test_exchange_answer_has_issued_token_type(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A trusted subject is exchanged; the answer names issued_token_type (RFC 8693 §2.2.1)."""
    form = {
        "grant_type": EXCHANGE,
        "subject_token": _subject(server),
        "subject_token_type": JWT_TYPE,
    }
    answer = (await _post(http, form)).json()
    assert answer["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:default:workload"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"subject_token": None}, "invalid_request"),
        ({"subject_token_type": None}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:saml1"}, "invalid_request"),
        ({"actor_token_type": JWT_TYPE}, "invalid_request"),
        ({"subject_token": "not-a-jwt"}, "invalid_grant"),
        ({"audience": "https://not-allowed.example"}, "invalid_target"),
    ],
)
async def test_exchange_errors_follow_rfc_8693(
    server: AuthorizationServer, http: httpx.AsyncClient, change: dict[str, str | None], error: str
) -> None:
    """Missing or unsupported parameters, bad subjects and targets get RFC 8693 §2.2.2 errors."""
    form: dict[str, str | None] = {
        "grant_type": EXCHANGE,
        "subject_token": _subject(server),
        "subject_token_type": JWT_TYPE,
        **change,
    }
    response = await _post(http, {k: v for k, v in form.items() if v is not None})
    assert (response.status_code, response.json()["error"]) == (400, error)


async def test_rotated_signing_key_of_the_workload_is_followed(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A subject signed by a key the workload issuer no longer publishes is invalid_grant."""
    old = _subject(server)
    server.workload_issuer.keys.rotate()
    form = {"grant_type": EXCHANGE, "subject_token": old, "subject_token_type": JWT_TYPE}
    assert (await _post(http, form)).json()["error"] == "invalid_grant"
    form["subject_token"] = _subject(server)
    assert (await _post(http, form)).status_code == 200


async def test_public_clients_need_no_authentication(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Token exchange and JWT bearer need no client credentials; client_credentials does."""
    server.workload_issuer.audiences.add("//iam.googleapis.com/pool")
    subject = server.workload_issuer.mint_kubernetes(audience="//iam.googleapis.com/pool")
    exchange = {
        "grant_type": EXCHANGE,
        "subject_token": subject,
        "subject_token_type": JWT_TYPE,
        "audience": "//iam.googleapis.com/pool",
    }
    assert (await _post(http, exchange, auth=False)).status_code == 200
    bearer = {"grant_type": JWT_BEARER, "assertion": subject}
    assert (await _post(http, bearer, auth=False)).status_code == 200
    refused = await _post(http, {"grant_type": "client_credentials"}, auth=False)
    assert refused.json()["error"] == "invalid_client"
    confidential = await _post(http, {**bearer, "client_id": DEMO_CLIENT_ID}, auth=False)
    assert confidential.json()["error"] == "invalid_client"


async def test_jwt_bearer_requires_an_assertion(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """No assertion is invalid_request; an expired one invalid_grant."""
    assert (await _post(http, {"grant_type": JWT_BEARER})).json()["error"] == "invalid_request"
    assertion = _subject(server, lifetime=30)
    clock.advance(60)
    answer = (await _post(http, {"grant_type": JWT_BEARER, "assertion": assertion})).json()
    assert answer == {"error": "invalid_grant", "error_description": "the assertion has expired"}


async def test_metadata_lists_the_grants(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Discovery advertises the new grants and the none method."""
    document = (await http.get("/.well-known/openid-configuration")).json()
    assert {EXCHANGE, JWT_BEARER} <= set(document["grant_types_supported"])
    assert "none" in document["token_endpoint_auth_methods_supported"]


def test_token_file_swap_keeps_one_data_directory(
    server: AuthorizationServer, tmp_path: Path
) -> None:
    """The kubelet-style writer leaves one data directory, the ..data link and the file link."""
    volume = KubernetesTokenFile(tmp_path)
    for _ in range(3):
        volume.write(_subject(server))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["..3", "..data", "token"]
    assert volume.path.read_text().count(".") == 2
