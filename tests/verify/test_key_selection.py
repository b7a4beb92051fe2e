"""Choosing the key for a token: kid, and then key type, curve, use and alg (RFC 7517 §4.5)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import jwk_of, other_ec_key, other_rsa_key, parts
from tokensources import InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

pytestmark = pytest.mark.anyio

_RSA = other_rsa_key()
_RSA_PSS = other_rsa_key()
_EC = other_ec_key()


def claims(server: AuthorizationServer) -> dict[str, Any]:
    """Valid claims for the testing server's issuer and audience."""
    return parts(server.issue_token())[1]


def verifier_for(
    server: AuthorizationServer, clock: FakeClock, keys: list[dict[str, Any]]
) -> JWTVerifier:
    """A verifier for the server's tokens, with ``keys`` as the issuer's JWKS."""
    return JWTVerifier(
        server.issuer,
        server.audience,
        jwks={"keys": keys},
        algorithms=("RS256", "PS256", "ES256"),
        clock=clock,
    )


async def test_keys_of_different_types_may_share_a_kid(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """An RSA and an EC key published under one kid each verify their own tokens."""
    verifier = verifier_for(server, clock, [jwk_of(_RSA, kid="k"), jwk_of(_EC, kid="k")])
    rs256 = jwt.encode(claims(server), _RSA, algorithm="RS256", headers={"kid": "k"})
    es256 = jwt.encode(claims(server), _EC, algorithm="ES256", headers={"kid": "k"})
    with anyio.fail_after(10):
        assert (await verifier.verify(rs256)).subject == "demo-client"
        assert (await verifier.verify(es256)).subject == "demo-client"


async def test_jwk_alg_tells_keys_with_one_kid_apart(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Two RSA keys sharing a kid, pinned to RS256 and PS256, each verify only their algorithm."""
    keys = [jwk_of(_RSA, kid="k") | {"alg": "RS256"}, jwk_of(_RSA_PSS, kid="k") | {"alg": "PS256"}]
    verifier = verifier_for(server, clock, keys)
    ps256 = jwt.encode(claims(server), _RSA_PSS, algorithm="PS256", headers={"kid": "k"})
    rs256 = jwt.encode(claims(server), _RSA, algorithm="RS256", headers={"kid": "k"})
    crossed = jwt.encode(claims(server), _RSA, algorithm="PS256", headers={"kid": "k"})
    with anyio.fail_after(10):
        assert (await verifier.verify(ps256)).subject == "demo-client"
        assert (await verifier.verify(rs256)).subject == "demo-client"
        # PS256 under kid k means the PS256 key: the RS256 key's signature fails.
        with pytest.raises(InvalidTokenError, match="signature"):
            await verifier.verify(crossed)


async def test_a_key_for_encryption_sharing_the_kid_is_never_used(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Under a shared kid, a use=enc or key_ops=[encrypt] key verifies nothing; the sig key does."""
    keys = [
        jwk_of(_RSA, kid="k") | {"use": "enc"},
        jwk_of(_RSA_PSS, kid="k") | {"key_ops": ["encrypt"]},
        jwk_of(_EC, kid="k") | {"use": "sig"},
    ]
    verifier = verifier_for(server, clock, keys)
    es256 = jwt.encode(claims(server), _EC, algorithm="ES256", headers={"kid": "k"})
    with anyio.fail_after(10):
        assert (await verifier.verify(es256)).subject == "demo-client"
        for key in (_RSA, _RSA_PSS):
            token = jwt.encode(claims(server), key, algorithm="RS256", headers={"kid": "k"})
            with pytest.raises(InvalidTokenError, match="no configured key fits"):
                await verifier.verify(token)


async def test_a_kid_whose_keys_fit_another_algorithm_is_refused_without_refetch(
    server: AuthorizationServer, http: Any, clock: FakeClock
) -> None:
    """A known kid whose keys all fit other algorithms is refused at once: no JWKS refetch."""
    verifier = JWTVerifier(
        server.issuer,
        server.audience,
        algorithms=("RS256", "ES256"),
        http=http,
        allow_insecure_http=True,
        clock=clock,
    )
    kid = jwt.get_unverified_header(server.issue_token())["kid"]
    es256 = jwt.encode(claims(server), _EC, algorithm="ES256", headers={"kid": kid})
    with anyio.fail_after(10):
        await verifier.verify(server.issue_token())
        clock.advance(120)  # past the unknown-kid cool-down
        with pytest.raises(InvalidTokenError, match="fits the token's algorithm ES256"):
            await verifier.verify(es256)
    assert server.counters.jwks_requests == 1


async def test_a_malformed_key_in_a_fetched_jwks_spoils_only_itself(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A fetched JWKS with a key whose kty or alg is a list still verifies with its good keys."""
    good = server.jwks()["keys"][0]
    document = {"keys": [{**good, "kty": ["RSA"]}, {**good, "alg": ["RS256"]}, good]}

    async def jwks_endpoint(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(document).encode()})

    transport = httpx.ASGITransport(app=jwks_endpoint)
    async with httpx.AsyncClient(transport=transport) as http:
        checker = JWTVerifier(
            server.issuer,
            server.audience,
            jwks_url="https://keys.example/jwks.json",
            http=http,
            clock=clock,
        )
        with anyio.fail_after(10):
            assert (await checker.verify(server.issue_token())).subject == "demo-client"
