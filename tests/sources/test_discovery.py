"""Discovery: OpenID Connect first, RFC 8414 second, issuer checked."""

from __future__ import annotations

import httpx
import pytest

from tokensources import ConfigError, TokenEndpointError, TokenResponseError, discover
from tokensources.sources._discovery import metadata_urls

pytestmark = pytest.mark.anyio

ISSUER = "https://idp.example/tenant"


def test_metadata_urls_follow_both_specs() -> None:
    """OIDC appends the well-known path; RFC 8414 inserts it before the issuer path."""
    assert metadata_urls(ISSUER + "/") == (
        "https://idp.example/tenant/.well-known/openid-configuration",
        "https://idp.example/.well-known/oauth-authorization-server/tenant",
    )


def serve(documents: dict[str, httpx.Response]) -> httpx.AsyncClient:
    async def handler(request: httpx.Request) -> httpx.Response:
        return documents.get(str(request.url), httpx.Response(404))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_falls_back_to_rfc8414() -> None:
    """When the OIDC document is missing, the RFC 8414 one is used."""
    url = metadata_urls(ISSUER)[1]
    doc = {"issuer": ISSUER, "token_endpoint": "https://idp.example/token"}
    async with serve({url: httpx.Response(200, json=doc)}) as http:
        assert (await discover(ISSUER, http=http))["token_endpoint"] == "https://idp.example/token"


async def test_issuer_mismatch_is_refused() -> None:
    """A document naming another issuer is a ConfigError."""
    url = metadata_urls(ISSUER)[0]
    doc = {"issuer": "https://evil.example", "token_endpoint": "https://evil.example/token"}
    async with serve({url: httpx.Response(200, json=doc)}) as http:
        with pytest.raises(ConfigError, match="names issuer"):
            await discover(ISSUER, http=http)


async def test_insecure_token_endpoint_in_metadata_is_refused() -> None:
    """Metadata pointing the token endpoint at plain http elsewhere is refused."""
    url = metadata_urls(ISSUER)[0]
    doc = {"issuer": ISSUER, "token_endpoint": "http://idp.example/token"}
    async with serve({url: httpx.Response(200, json=doc)}) as http:
        with pytest.raises(ConfigError, match="plain http"):
            await discover(ISSUER, http=http)


async def test_no_metadata_anywhere() -> None:
    """Two 404s raise TokenEndpointError with the last status."""
    async with serve({}) as http:
        with pytest.raises(TokenEndpointError) as info:
            await discover(ISSUER, http=http)
    assert info.value.status_code == 404


async def test_metadata_that_is_not_json() -> None:
    """A 200 that is not a JSON object raises TokenResponseError."""
    url = metadata_urls(ISSUER)[0]
    async with serve({url: httpx.Response(200, text="<html>")}) as http:
        with pytest.raises(TokenResponseError):
            await discover(ISSUER, http=http)
