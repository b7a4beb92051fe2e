"""RFC 9728 protected-resource metadata: the document, how it is served, what it announces."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tokensources import ConfigError
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, JWTVerifier, ResourceMetadata

pytestmark = pytest.mark.anyio

RESOURCE = "https://mcp.example.com/mcp"
WELL_KNOWN = "/.well-known/oauth-protected-resource/mcp"


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The protected resource: 200 to whoever gets past the middleware."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def metadata() -> ResourceMetadata:
    return ResourceMetadata(
        RESOURCE,
        authorization_servers=["https://idp.example.com"],
        scopes_supported="read:messages write:messages",
        resource_name="Messages",
    )


def verifier(server: AuthorizationServer) -> JWTVerifier:
    return JWTVerifier(server.issuer, RESOURCE, jwks=server.jwks())


def client(asgi: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi), base_url="https://mcp.example.com"
    )


def test_the_document_holds_what_was_given_and_nothing_about_proofs() -> None:
    """The members RFC 9728 §2 defines, from the arguments; no proof-of-possession promise."""
    document = metadata().document()
    assert document == {
        "resource": RESOURCE,
        "authorization_servers": ["https://idp.example.com"],
        "scopes_supported": ["read:messages", "write:messages"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Messages",
    }
    assert metadata().url == "https://mcp.example.com" + WELL_KNOWN


def test_with_proofs_is_a_new_document_and_leaves_this_one_alone() -> None:
    """with_proofs() announces exactly what it is told, in a copy."""
    plain = metadata()
    announced = plain.with_proofs(
        dpop_signing_alg_values_supported=["ES256", "EdDSA"],
        dpop_bound_access_tokens_required=True,
        tls_client_certificate_bound_access_tokens=True,
    )
    assert "dpop_signing_alg_values_supported" not in plain.document()
    document = announced.document()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert document["dpop_bound_access_tokens_required"] is True
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert (announced.url, announced.path) == (plain.url, plain.path)
    with pytest.raises(ConfigError):
        plain.with_proofs(dpop_signing_alg_values_supported=[""])


async def test_bearer_auth_serves_it_with_the_proofs_it_checks() -> None:
    """BearerAuth checks DPoP proofs, so its (unprotected) document announces their algorithms."""
    server = AuthorizationServer()
    async with client(BearerAuth(app, verifier(server), metadata=metadata())) as http:
        answer = await http.get(WELL_KNOWN)
        head = await http.head(WELL_KNOWN)
        post = await http.post(WELL_KNOWN)
        refused = await http.get("/mcp")
    document = answer.json()
    assert answer.status_code == 200
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    # No certificate callable given: the binding cannot be checked, so it is not promised.
    assert "tls_client_certificate_bound_access_tokens" not in document
    assert (head.status_code, head.content) == (200, b"")
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
    assert refused.status_code == 401
    assert f'resource_metadata="{metadata().url}"' in refused.headers["www-authenticate"]


async def test_certificate_binding_is_announced_when_certificates_can_be_seen() -> None:
    """With a client_certificate callable, certificate-bound tokens are announced (RFC 8705)."""
    server = AuthorizationServer()
    protected = BearerAuth(
        app, verifier(server), metadata=metadata(), client_certificate=lambda scope: None
    )
    async with client(protected) as http:
        document = (await http.get(WELL_KNOWN)).json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
