"""Type-checked, not run: the public signatures compose as the documentation says.

``mypy --strict tests/typing/api.py`` must pass; a change that breaks a
documented composition breaks this file.
"""

from __future__ import annotations

import httpx

from tokensources import (
    AuthStyle,
    ClientCredentials,
    External,
    InMemoryShared,
    PrivateKeyJWT,
    Reuse,
    Static,
    Token,
    TokenAuth,
    TokenSource,
    buffer,
    retry,
    reuse,
)
from tokensources.verify import JWTVerifier, require_scopes


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
