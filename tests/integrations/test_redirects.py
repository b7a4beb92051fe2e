"""A token goes only to the origin it was meant for, even when the API redirects elsewhere.

Two small apps on loopback: the API (127.0.0.1) answers every request with a
redirect to another origin (127.0.0.2), which answers 401 and records the
``Authorization`` headers it sees. Neither adapter may send a token there,
nor drop the cached token because of that 401. ``requests`` runs the
source's private loop on both anyio backends; aiohttp runs on asyncio only,
by nature.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import aiohttp
import anyio
import anyio.from_thread
import pytest
import requests

from tokensources import ConfigError, Token
from tokensources.aiohttp import TokenMiddleware
from tokensources.requests import TokenAuth
from tokensources.testing._loopback import serve_asgi
from tokensources.wrappers import reuse

TIMEOUT = 10


class _App:
    """Answers a redirect to ``target`` (or, without one, 401); records Authorization headers."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.authorizations: list[bytes | None] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.authorizations.append(dict(scope["headers"]).get(b"authorization"))
        if self.target is None:
            start = {"type": "http.response.start", "status": 401, "headers": []}
        else:
            location = [(b"location", f"{self.target}/elsewhere".encode())]
            start = {"type": "http.response.start", "status": 302, "headers": location}
        await send(start)
        await send({"type": "http.response.body", "body": b""})


class _Counted:
    """A source of bearer tokens, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def token(self) -> Token:
        self.calls += 1
        return Token(f"t0k3n-{self.calls}")

    def invalidate(self, token: Token) -> None:
        pass


@pytest.fixture
def apps() -> Iterator[tuple[_App, str, _App]]:
    """The redirecting API, its URL, and the other origin it redirects to."""
    api, other = _App(), _App()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve_asgi(other, host="127.0.0.2")) as other_base,
        portal.wrap_async_context_manager(serve_asgi(api)) as api_base,
    ):
        api.target = other_base
        yield api, f"{api_base}/private", other


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_requests_never_sends_a_token_to_the_origin_it_was_redirected_to(
    apps: tuple[_App, str, _App], backend: str
) -> None:
    """After a redirect to another origin, its 401 is returned as it is: no token goes there."""
    api, url, other = apps
    source = _Counted()
    with TokenAuth(reuse(source), portal_backend=backend) as auth:
        answer = requests.get(url, auth=auth, timeout=TIMEOUT)
    assert answer.status_code == 401
    assert api.authorizations == [b"Bearer t0k3n-1"]
    assert other.authorizations == [None]
    assert source.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_never_sends_a_token_to_the_origin_it_was_redirected_to(
    apps: tuple[_App, str, _App],
) -> None:
    """aiohttp runs the middleware on every redirect: the other origin still gets no token."""
    api, url, other = apps
    source = _Counted()
    with TokenMiddleware(reuse(source)) as middleware, anyio.fail_after(TIMEOUT):
        async with (
            aiohttp.ClientSession(middlewares=(middleware,)) as session,
            session.get(url) as answer,
        ):
            status = answer.status
    assert status == 401
    assert api.authorizations == [b"Bearer t0k3n-1"]
    assert other.authorizations == [None]
    assert source.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_sends_tokens_to_every_origin_named(
    apps: tuple[_App, str, _App],
) -> None:
    """With origins= naming both, the redirect target gets a token too (and its 401 a resend)."""
    api, url, other = apps
    assert api.target is not None
    source = _Counted()
    with (
        TokenMiddleware(reuse(source), origins=[url, api.target]) as middleware,
        anyio.fail_after(TIMEOUT),
    ):
        async with (
            aiohttp.ClientSession(middlewares=(middleware,)) as session,
            session.get(url) as answer,
        ):
            status = answer.status
    assert status == 401
    assert other.authorizations == [b"Bearer t0k3n-1", b"Bearer t0k3n-2"]


@pytest.mark.parametrize("wrong", ["", [], [b"https://api.example"], ["ftp://api.example"], [3]])
def test_aiohttp_origins_of_the_wrong_kind_fail_at_construction(wrong: Any) -> None:
    """origins must be http(s) URL strings: anything else is a ConfigError when built."""
    with pytest.raises(ConfigError, match="origins"):
        TokenMiddleware(reuse(_Counted()), origins=wrong)
