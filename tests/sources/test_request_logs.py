"""No request the library's own HTTP clients send logs a credential of its URL.

httpx logs every request's URL, query included, at INFO on the ``httpx``
logger, and httpcore traces connections at DEBUG. With every logger at
DEBUG, over real loopback HTTP (so httpcore is in the path), no record
holds a query credential of a request the library sent with a client it
created; a client you pass in keeps httpx's own logging.
"""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from tokensources import ClientCredentials, External, TokenSourceError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

API_KEY = "query-api-key-5ecret-0123"


def texts(records: list[logging.LogRecord]) -> list[str]:
    """Everything a handler or formatter could show of each record."""
    return [f"{r.name} {r.getMessage()} {r.msg!r} {r.args!r}" for r in records]


async def test_a_query_credential_of_external_is_never_logged(
    server: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """External(url="...?api_key=...") logs the request with the key masked, at every level."""
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with server.serve() as base_url:
            async with External(f"{base_url}/oauth/token?api_key={API_KEY}") as source:
                with pytest.raises(TokenSourceError):
                    await source.token()  # a GET is not a token request: refused
    shown = texts(caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert all(API_KEY not in text for text in shown)
    (request_line,) = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert "/oauth/token?api_key=[redacted]" in request_line


async def test_a_query_credential_of_a_token_url_is_never_logged(
    server: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A token URL carrying a credential in its query is logged masked; the token still comes."""
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with server.serve() as base_url:
            url = f"{base_url}/oauth/token?tenant_key={API_KEY}"
            async with ClientCredentials(url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) as source:
                token = await source.token()
    assert token.access_token
    assert server.counters.token_requests == 1
    assert sum(r.name == "httpx" for r in caplog.records) == 1
    assert all(API_KEY not in text for text in texts(caplog.records))
    assert all(DEMO_CLIENT_SECRET not in text for text in texts(caplog.records))


async def test_your_own_client_keeps_its_own_request_log(
    server: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A client passed as http= is left alone: httpx logs its URLs as it always does."""
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with server.serve() as base_url, httpx.AsyncClient() as yours:
            url = f"{base_url}/oauth/token?api_key={API_KEY}"
            with pytest.raises(TokenSourceError):
                await External(url, http=yours).token()
            await yours.get(url)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(lines) == 2
    assert all(f"api_key={API_KEY}" in line for line in lines)


async def test_masking_touches_only_the_requests_it_sent(
    server: AuthorizationServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Your request to the very same URL, sent after the library's, is logged unmasked."""
    caplog.set_level(logging.INFO, logger="httpx")
    with anyio.fail_after(10):
        async with server.serve() as base_url:
            url = f"{base_url}/oauth/token?api_key={API_KEY}"
            async with External(url) as source:
                with pytest.raises(TokenSourceError):
                    await source.token()
            async with httpx.AsyncClient() as yours:
                await yours.get(url)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(lines) == 2
    assert API_KEY not in lines[0]
    assert f"api_key={API_KEY}" in lines[1]
