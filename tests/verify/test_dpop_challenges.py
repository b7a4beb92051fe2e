"""A request that presented a DPoP credential is answered with a DPoP challenge naming the algs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.verify.conftest import MakeVerifier, resign, unpublished_key
from tokensources import DPoPKey, InsufficientScopeError, InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    DPoPNonceError,
    DPoPProofChecker,
    DPoPProofError,
    bearer_token,
    challenge,
    claims_from,
)

pytestmark = pytest.mark.anyio

API = "https://api.test"
ALGS = ("ES256", "RS256")


def _header(error: Any, **kwargs: Any) -> tuple[int, str]:
    answer = challenge(error, dpop_algorithms=ALGS, **kwargs)
    return answer.status, answer.headers["WWW-Authenticate"]


def _missing() -> InvalidTokenError:
    try:
        bearer_token(None)
    except InvalidTokenError as exc:
        return exc
    raise AssertionError("no Authorization header was accepted")


def _malformed() -> InvalidTokenError:
    try:
        bearer_token("Bearer a b")
    except InvalidTokenError as exc:
        return exc
    raise AssertionError("a malformed header was accepted")


@pytest.mark.parametrize(
    ("error", "scheme", "expected"),
    [
        (InvalidTokenError("x"), "dpop", (401, 'DPoP error="invalid_token", algs="ES256 RS256"')),
        (InvalidTokenError("x"), "bearer", (401, 'Bearer error="invalid_token"')),
        (
            InsufficientScopeError("x", missing=("a",)),
            "dpop",
            (403, 'DPoP error="insufficient_scope", scope="a", algs="ES256 RS256"'),
        ),
        (
            DPoPProofError("x"),
            "bearer",
            (401, 'DPoP error="invalid_dpop_proof", algs="ES256 RS256"'),
        ),
        (DPoPNonceError("x"), "dpop", (401, 'DPoP error="use_dpop_nonce", algs="ES256 RS256"')),
    ],
    ids=["token-dpop", "token-bearer", "scope-dpop", "proof", "nonce"],
)
def test_challenges_follow_the_scheme_the_client_used(
    error: InvalidTokenError, scheme: str, expected: tuple[int, str]
) -> None:
    """RFC 9449 §7.1: the DPoP scheme (with algs) for DPoP credentials and proof errors."""
    assert _header(error, scheme=scheme) == expected


def test_a_missing_or_malformed_credential_stays_a_bearer_challenge() -> None:
    """No credential, or one that cannot be read, says nothing about the scheme: Bearer."""
    assert _header(_missing(), scheme="dpop") == (401, "Bearer")
    assert _header(_malformed(), scheme="dpop") == (400, 'Bearer error="invalid_request"')


def test_a_dpop_challenge_carries_realm_and_resource_metadata() -> None:
    """The resource's own parameters come after the error, then algs."""
    status, header = _header(
        InvalidTokenError("x"),
        scheme="dpop",
        realm="api",
        resource_metadata="https://api.test/.well-known/oauth-protected-resource",
    )

    assert status == 401
    assert header == (
        'DPoP error="invalid_token", realm="api", '
        'resource_metadata="https://api.test/.well-known/oauth-protected-resource", '
        'algs="ES256 RS256"'
    )


def test_without_algorithms_the_dpop_challenge_names_none() -> None:
    """challenge() without dpop_algorithms is what it was: no algs parameter."""
    answer = challenge(DPoPProofError("x"))

    assert answer.headers["WWW-Authenticate"] == 'DPoP error="invalid_dpop_proof"'


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_bearer_auth_answers_a_refused_dpop_token_with_a_dpop_challenge(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A DPoP credential whose token's signature is forged: 401 DPoP error="invalid_token", algs."""
    key = DPoPKey.generate()
    good = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})
    forged = resign(good, unpublished_key())
    protected = BearerAuth(
        _app, make_verifier(), dpop=DPoPProofChecker(algorithms=("ES256", "PS256"))
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url=API
    ) as client:
        proof = key.proof("GET", API + "/m", access_token=forged)
        dpop = await client.get("/m", headers={"Authorization": f"DPoP {forged}", "DPoP": proof})
        bearer = await client.get("/m", headers={"Authorization": f"Bearer {forged}"})

    assert dpop.status_code == 401
    assert dpop.headers["www-authenticate"] == 'DPoP error="invalid_token", algs="ES256 PS256"'
    assert bearer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
