"""The loopback HTTP/1.1 server: keep-alive, limits, protocol errors, threads, issuer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from tokensources import InvalidTokenError
from tokensources.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    AuthorizationServer,
)

pytestmark = pytest.mark.anyio

DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def exchange(url: str, raw: bytes, *, responses: int = 1) -> bytes:
    """Send raw bytes on one TCP connection and read until ``responses`` answers or EOF."""
    parts = urlsplit(url)
    received = b""
    async with await anyio.connect_tcp(parts.hostname or "", parts.port or 0) as stream:
        await stream.send(raw)
        with contextlib.suppress(anyio.EndOfStream):
            while received.count(b"HTTP/1.1 ") < responses or not received.endswith(b"}"):
                received += await stream.receive()
    return received


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """Stream ``parts`` as a chunked request body."""
    for part in parts:
        yield part


async def test_keep_alive_serves_several_requests_on_one_connection(
    server: AuthorizationServer,
) -> None:
    """Two pipelined requests on one connection get two answers."""
    request = b"GET /api/public HTTP/1.1\r\nHost: x\r\n\r\n"
    with anyio.fail_after(10):
        async with server.serve() as url:
            received = await exchange(url, request * 2, responses=2)

    assert received.count(b"HTTP/1.1 200 ") == 2
    assert server.counters.api_requests == 2


async def test_an_oversized_body_is_refused(server: AuthorizationServer) -> None:
    """A request body over the cap gets 413 and is never handled."""
    with anyio.fail_after(10):
        async with server.serve() as url, httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/oauth/token", content=b"a" * (65 * 1024), auth=DEMO)
            chunked = await http.post(
                "/oauth/token", content=chunks(b"a" * 40_000, b"b" * 40_000), auth=DEMO
            )

    assert response.status_code == 413
    assert chunked.status_code == 413
    assert server.counters.token_requests == 0


async def test_a_malformed_request_gets_400(server: AuthorizationServer) -> None:
    """Bytes that are not HTTP get 400 and a closed connection."""
    with anyio.fail_after(10):
        async with server.serve() as url:
            received = await exchange(url, b"NOT HTTP AT ALL\r\n\r\n")

    assert received.startswith(b"HTTP/1.1 400 ")


async def test_the_issuer_follows_the_served_url(server: AuthorizationServer) -> None:
    """While serving, the issuer is the served URL; afterwards it is the default again."""
    with anyio.fail_after(10):
        async with server.serve() as url:
            assert server.issuer == url
            assert url.startswith("http://127.0.0.1:")
            token = server.issue_token()

    assert server.issuer == "http://testserver"
    with pytest.raises(InvalidTokenError):
        server.verify_access_token(token)


async def test_leaving_serve_closes_the_listener(server: AuthorizationServer) -> None:
    """After serve() exits, connections are refused."""
    with anyio.fail_after(10):
        async with server.serve() as url:
            pass
        async with httpx.AsyncClient(base_url=url) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get("/api/public")
