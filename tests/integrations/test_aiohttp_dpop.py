"""tokensources.aiohttp sends DPoP for bound tokens: a real aiohttp client, a loopback server.

The testing server demands DPoP of the demo client, and nonces at its token
endpoint and at ``/api/private``; every proof is checked there.

asyncio only, by nature: aiohttp runs on asyncio and not on trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anyio
import jwt
import pytest
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, web
from multidict import CIMultiDict

from tests.integrations.test_requests_dpop import (
    PRIVATE,
    bound_source,
    demanding_dpop,
    nonce_retries,
    rejections_logged,
)
from tokensources import ConfigError, DPoPKey, Static, Token
from tokensources.aiohttp import TokenMiddleware
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio
TASKS = 100


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def served() -> AsyncIterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in this event loop, demanding DPoP and nonces."""
    server = demanding_dpop(AuthorizationServer())
    with anyio.fail_after(30):
        async with server.serve() as base:
            yield server, base


class Sent:
    """A middleware after ``TokenMiddleware``: the headers of every request as it goes out."""

    def __init__(self) -> None:
        self.headers: list[CIMultiDict[str]] = []

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Record ``request``'s headers, then send it."""
        self.headers.append(CIMultiDict(request.headers))
        return await handler(request)


async def status_of(session: aiohttp.ClientSession, url: str, **options: object) -> int:
    """GET ``url`` and return the status, releasing the answer."""
    async with session.get(url, **options) as response:  # type: ignore[arg-type]
        return response.status


async def test_a_bound_token_is_accepted_after_one_nonce_retry(
    served: tuple[AuthorizationServer, str],
) -> None:
    """The first call learns the API's nonce in one retry; the next carries it from the start."""
    server, base = served
    key = DPoPKey.generate()
    sent = Sent()
    before = nonce_retries()
    source = bound_source(server, key)
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware, sent)) as session:
            first = await status_of(session, base + PRIVATE)
            second = await status_of(session, base + PRIVATE)
    await source.aclose()

    assert (first, second) == (200, 200)
    assert len(sent.headers) == 3  # the challenged first send, its retry, the second call
    assert all(h["Authorization"].startswith("DPoP ") and "DPoP" in h for h in sent.headers)
    assert len({h["DPoP"] for h in sent.headers}) == 3  # a fresh proof on every send
    assert nonce_retries() - before == 2  # one at the token endpoint, one at the API
    assert server.dpop.api.counters.nonce_challenges == 1
    assert server.dpop.api.counters.accepted == 2
    assert server.log.requests(endpoint="api")[-1].dpop_jkt == key.thumbprint
    assert server.counters.tokens_issued == 1


async def test_a_cold_burst_costs_one_nonce_retry(
    served: tuple[AuthorizationServer, str],
) -> None:
    """100 concurrent calls on a cold cache: all 200, one token, one nonce retry (first contact)."""
    server, base = served
    statuses: list[int] = []
    before = nonce_retries()
    source = bound_source(server, DPoPKey.generate())
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:

            async def call() -> None:
                statuses.append(await status_of(session, base + PRIVATE))

            async with anyio.create_task_group() as group:
                for _ in range(TASKS):
                    group.start_soon(call)
    await source.aclose()

    assert statuses == [200] * TASKS
    assert nonce_retries() - before == 2  # one at the token endpoint, one at the API
    assert server.dpop.api.counters.nonce_challenges == 1
    assert server.counters.api_requests == TASKS + 1
    assert server.counters.tokens_issued == 1


async def test_a_nonce_challenge_is_retried_once_and_rejects_nothing(
    served: tuple[AuthorizationServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    """After a nonce rotation: one resend with the same token, no token request, no backoff."""
    server, base = served
    sent = Sent()
    source = bound_source(server, DPoPKey.generate())
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware, sent)) as session:
            assert await status_of(session, base + PRIVATE) == 200
            token = source.peek()
            server.dpop.rotate_nonce()
            sent.headers.clear()
            status = await status_of(session, base + PRIVATE)
    await source.aclose()

    assert status == 200
    challenged, resent = sent.headers
    assert challenged["Authorization"] == resent["Authorization"]
    assert challenged["DPoP"] != resent["DPoP"]
    assert source.peek() is token
    assert server.counters.tokens_issued == 1
    assert rejections_logged(caplog) == []


async def test_a_body_that_cannot_be_replayed_is_not_resent(
    served: tuple[AuthorizationServer, str],
) -> None:
    """A streamed body meets a nonce challenge: one send, the 401 returned, the token kept."""
    server, base = served
    source = bound_source(server, DPoPKey.generate())

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            streamed = await status_of(session, base + PRIVATE, data=body())
            kept = source.peek() is not None
            after = await status_of(session, base + PRIVATE)
    await source.aclose()

    assert (streamed, kept, after) == (401, True, 200)
    assert server.counters.api_requests == 2  # the nonce of the 401 was learned
    assert server.counters.tokens_issued == 1


async def test_a_bearer_token_never_gets_a_proof(
    served: tuple[AuthorizationServer, str],
) -> None:
    """A server without DPoP answers Bearer: no proof, even on the resend after a bound token."""
    server, base = served
    sent = Sent()
    source = bound_source(server, DPoPKey.generate())
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware, sent)) as session:
            assert await status_of(session, base + PRIVATE) == 200
            server.dpop.supported = False  # from now on bearer tokens, and proofs ignored
            server.rotate_keys()  # the bound token is rejected: 401, a bearer token, a resend
            status = await status_of(session, base + PRIVATE)
    await source.aclose()

    assert status == 200
    assert sent.headers[-1]["Authorization"].startswith("Bearer ")
    assert "DPoP" not in sent.headers[-1]
    assert server.log.requests(endpoint="api")[-1].dpop_proof is False
    assert server.counters.tokens_issued == 2


async def test_a_token_bound_to_a_key_not_loaded_is_a_config_error(
    served: tuple[AuthorizationServer, str],
) -> None:
    """A bound token whose key is not in this process: ConfigError, never the token, no request."""
    server, base = served
    source = Static(Token("secret-at", token_type="DPoP", jkt="x" * 43))
    with TokenMiddleware(source) as middleware:
        async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
            with pytest.raises(ConfigError, match="not loaded") as raised:
                await status_of(session, base + PRIVATE)

    assert "secret-at" not in str(raised.value)
    assert server.counters.api_requests == 0


class Invalidations:
    """A token source that counts the tokens its callers threw away."""

    def __init__(self, inner: Static) -> None:
        self._inner = inner
        self.invalidated = 0

    async def token(self) -> Token:
        """The inner source's token."""
        return await self._inner.token()

    def invalidate(self, token: Token) -> None:
        """Count, and pass on."""
        self.invalidated += 1
        self._inner.invalidate(token)


class TwoChallenges:
    """An API that answers a proof without its nonce with one WWW-Authenticate per scheme."""

    NONCE = "n-1"

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        """401 with ``Bearer`` first and the DPoP nonce challenge second, until the nonce comes."""
        self.calls += 1
        claims = jwt.decode(request.headers["DPoP"], options={"verify_signature": False})
        if claims.get("nonce") == self.NONCE:
            return web.Response(text="ok")
        headers: CIMultiDict[str] = CIMultiDict()
        headers.add("WWW-Authenticate", 'Bearer realm="api"')
        headers.add("WWW-Authenticate", 'DPoP algs="ES256", error="use_dpop_nonce"')
        headers.add("DPoP-Nonce", self.NONCE)
        return web.Response(status=401, headers=headers)


async def test_a_nonce_challenge_in_a_second_www_authenticate_header_is_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``Bearer`` and ``DPoP`` challenges in two headers: a nonce retry, the token kept."""
    key = DPoPKey.generate()
    api = TwoChallenges()
    app = web.Application()
    app.router.add_get("/x", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    source = Invalidations(Static(Token("bound-token", token_type="DPoP", jkt=key.thumbprint)))
    try:
        with TokenMiddleware(source) as middleware:
            async with aiohttp.ClientSession(middlewares=(middleware,)) as session:
                status = await status_of(session, f"http://127.0.0.1:{port}/x")
    finally:
        await runner.cleanup()

    assert status == 200
    assert api.calls == 2
    assert source.invalidated == 0
    assert rejections_logged(caplog) == []
