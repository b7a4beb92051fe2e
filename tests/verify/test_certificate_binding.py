"""tokensources.verify checks a bound token's cnf.x5t#S256 against the request's certificate."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.mtls import Pair, issued
from tests.verify.conftest import MakeVerifier
from tokensources import InvalidTokenError
from tokensources.sources._certificates import x5t_s256
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, authenticate, claims_from

pytestmark = pytest.mark.anyio

PROXY_HEADER = b"x-forwarded-client-cert"


@pytest.fixture(scope="module")
def pairs() -> tuple[Pair, Pair]:
    """Two client certificates from one test CA."""
    ca = trustme.CA()
    return issued(ca), issued(ca, "other")


def thumbprint(pair: Pair) -> str:
    der = x509.load_pem_x509_certificate(pair.certificate).public_bytes(serialization.Encoding.DER)
    return x5t_s256(der)


def scope(token: str, certificate: bytes | None = None) -> dict[str, Any]:
    """An HTTP scope with the bearer token and, when given, the TLS extension's certificate."""
    result: dict[str, Any] = {
        "type": "http",
        "path": "/",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
    }
    if certificate is not None:
        chain = [certificate.decode("ascii")]
        result["extensions"] = {"tls": {"client_cert_chain": chain, "client_cert_name": None}}
    return result


def bound_token(server: AuthorizationServer, pair: Pair) -> str:
    return server.issue_token(claims={"cnf": {"x5t#S256": thumbprint(pair)}})


async def test_a_bound_token_with_its_certificate_is_accepted(
    make_verifier: MakeVerifier, server: AuthorizationServer, pairs: tuple[Pair, Pair]
) -> None:
    """The certificate of the ASGI TLS extension matches the token's cnf: accepted."""
    mine, _ = pairs
    with anyio.fail_after(10):
        claims = await authenticate(
            make_verifier(), scope(bound_token(server, mine), mine.certificate)
        )
    assert claims["cnf"]["x5t#S256"] == thumbprint(mine)


@pytest.mark.parametrize("presented", ["none", "other"])
async def test_a_bound_token_without_its_certificate_is_refused(
    presented: str,
    make_verifier: MakeVerifier,
    server: AuthorizationServer,
    pairs: tuple[Pair, Pair],
) -> None:
    """No certificate, or another one: InvalidTokenError, whatever else is right."""
    mine, other = pairs
    certificate = None if presented == "none" else other.certificate
    with anyio.fail_after(10), pytest.raises(InvalidTokenError, match="bound to a client"):
        await authenticate(make_verifier(), scope(bound_token(server, mine), certificate))


async def test_an_unbound_token_needs_no_certificate(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A token without cnf is checked as before."""
    with anyio.fail_after(10):
        claims = await authenticate(make_verifier(), scope(server.issue_token()))
    assert "cnf" not in claims


async def test_bearer_auth_reads_a_proxy_forwarded_certificate(
    make_verifier: MakeVerifier, server: AuthorizationServer, pairs: tuple[Pair, Pair]
) -> None:
    """With client_certificate=, a header the proxy sets carries the certificate; 401 without it."""
    mine, other = pairs

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = claims_from(scope)["sub"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    def forwarded(scope: Any) -> bytes | None:
        return dict(scope["headers"]).get(PROXY_HEADER)

    protected = BearerAuth(app, make_verifier(), client_certificate=forwarded)
    token = bound_token(server, mine)
    statuses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url="https://api.test"
    ) as client:
        for pair in (mine, other, None):
            headers = {"Authorization": f"Bearer {token}"}
            if pair is not None:
                headers[PROXY_HEADER.decode()] = quote(pair.certificate.decode(), safe="")
            with anyio.fail_after(10):
                answer = await client.get("/", headers=headers)
            statuses.append((answer.status_code, answer.headers.get("www-authenticate", "")))
    assert statuses[0] == (200, "")
    for status, challenge in statuses[1:]:
        assert status == 401
        assert 'error="invalid_token"' in challenge
