"""Type-checked, not run: the public signatures compose as the documentation says.

``mypy --strict tests/typing/api.py`` must pass; a change that breaks a
documented composition breaks this file.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tokensources import (
    AuthStyle,
    ClientAssertion,
    ClientCredentials,
    ClientSecretJWT,
    DPoPKey,
    External,
    FileToken,
    GitHubActionsOIDC,
    InMemoryShared,
    JWTBearer,
    MutualTLS,
    PrivateKeyJWT,
    Reuse,
    SignedAssertion,
    Static,
    Token,
    TokenAuth,
    TokenExchange,
    TokenSource,
    blocking,
    buffer,
    retry,
    reuse,
)
from tokensources.testing import AuthorizationServer
from tokensources.verify import ASGIApp, BearerAuth, JWTVerifier, require_scopes


async def stack() -> Token:
    cc: TokenSource = ClientCredentials(
        "https://idp.example/oauth/token", "id", "secret", auth_style=AuthStyle.BODY
    )
    cached: Reuse = reuse(buffer(retry(cc, attempts=3), seconds=60.0), skew=5.0)
    shared: TokenSource = InMemoryShared(cached)
    return await shared.token()


async def other_sources(pem: bytes) -> list[TokenSource]:
    async def fetch() -> Token:
        return Token("abc")

    return [
        PrivateKeyJWT("https://idp.example/oauth/token", "id", pem, key_id="k1"),
        External(fetch=fetch),
        External("https://tokens.internal.example/token", headers={"X-Api-Key": "k"}),
        Static("abc"),
        await ClientCredentials.from_issuer("https://idp.example", "id", "secret"),
        await ClientCredentials.from_resource("https://mcp.example/mcp", "id", "secret"),
    ]


async def client_authentication(pem: bytes, platform: TokenSource) -> list[TokenSource]:
    mtls = MutualTLS(
        "https://mtls.idp.example/oauth/token",
        "id",
        certificate=Path("/var/run/tls/tls.crt"),
        private_key="/var/run/tls/tls.key",
        key_password=b"password",
        ca=pem,
        scopes=["read"],
    )
    return [
        ClientSecretJWT(
            "https://idp.example/oauth/token",
            "id",
            "a-client-secret-of-at-least-32-bytes",
            algorithm="HS512",
            assertion_audience="issuer",
            assertion_typ="client-authentication+jwt",
            issuer="https://idp.example",
        ),
        PrivateKeyJWT(
            "https://idp.example/oauth/token",
            "id",
            pem,
            assertion_audience=["https://idp.example", "https://idp.example/oauth/token"],
            assertion_typ="client-authentication+jwt",
        ),
        await ClientSecretJWT.from_issuer("https://idp.example", "id", "secret"),
        ClientAssertion("https://idp.example/oauth/token", "id", platform, scopes="read"),
        mtls,
        await MutualTLS.from_issuer("https://idp.example", "id", certificate=pem, private_key=pem),
        reuse(mtls),
    ]


async def certificate_bound(mtls: MutualTLS) -> tuple[ssl.SSLContext, str, bool]:
    return (
        mtls.ssl_context(),
        mtls.certificate_thumbprint,
        mtls.bound_to_current(await mtls.token()),
    )


def certificate_transports(mtls: MutualTLS) -> tuple[httpx.AsyncClient, httpx.Client]:
    routed: httpx.AsyncBaseTransport = mtls.transport(http2=False)
    routed_sync: httpx.BaseTransport = mtls.sync_transport()
    return httpx.AsyncClient(transport=routed), httpx.Client(transport=routed_sync)


async def testing_server(pem: str, jwks: dict[str, Any], context: ssl.SSLContext) -> str:
    server = AuthorizationServer()
    server.register_client("mac-client", "a-client-secret-of-at-least-32-bytes")
    server.register_federated_client(
        "workload",
        issuer="https://kubernetes.default.svc",
        subject="system:serviceaccount:payments:api",
        keys=lambda: jwks,
        assertion_audience=["https://idp.example"],
    )
    server.register_tls_client("billing", subject_dn="CN=billing,O=Example")
    server.register_tls_client("reports", certificate=[pem], scopes=["read:messages"])
    server.register_tls_client("exports", jwks=jwks, token_lifetime=300.0)
    async with server.serve(tls=context) as url:
        return url


def bound_tokens_behind_a_proxy(app: ASGIApp, verifier: JWTVerifier) -> ASGIApp:
    def forwarded(scope: Mapping[str, Any]) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-ssl-client-cert":
                return str(value.decode("ascii"))
        return None

    return BearerAuth(
        app, verifier, client_certificate=forwarded, public_url="https://api.example.com"
    )


async def async_httpx(source: TokenSource) -> None:
    async with httpx.AsyncClient(auth=TokenAuth(source)) as client:
        await client.get("https://api.example/x")


def sync_httpx(source: TokenSource) -> None:
    with httpx.Client(auth=TokenAuth(source)) as client:
        client.get("https://api.example/x")


async def verify(token: str) -> None:
    verifier = JWTVerifier("https://idp.example/", "https://api.example")
    claims = await verifier.verify(token)
    require_scopes(claims, "read:messages")


async def workload_identity(pem: bytes) -> list[TokenSource]:
    key = DPoPKey.generate()
    subject = FileToken("/var/run/secrets/tokens/token")
    assertion = SignedAssertion(pem, issuer="svc", subject="svc", audience="https://sts.example")
    exchange = TokenExchange(
        "https://sts.example/token", subject, audience="https://api.example", body="json", dpop=key
    )
    bearer = JWTBearer("https://idp.example/token", assertion, scopes=["read"], body="json")
    nested = TokenExchange(
        "https://idp.example/token",
        exchange,
        client=ClientCredentials("https://idp.example/token", "id", "secret"),
    )
    token: Token = blocking(reuse(nested)).token()
    assert token.jkt is None or isinstance(token.jkt, str)
    return [exchange, bearer, nested, GitHubActionsOIDC(audience="api://AzureADTokenExchange")]
