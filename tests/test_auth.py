"""TokenAuth with httpx.AsyncClient: headers, 401 handling, single flight, errors, secrecy."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
import httpx
import pytest

from tokensources import ClientCredentials, Static, Token, TokenAuth, TokenEndpointError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._inprocess import InProcessTransport
from tokensources.wrappers import reuse

pytestmark = pytest.mark.anyio

STORM = 2000
# A round trip on a fast network: long enough for concurrent requests to overlap.
NETWORK_DELAY = 0.005


def _source(
    server: AuthorizationServer, http: httpx.AsyncClient, **kwargs: object
) -> ClientCredentials:
    return ClientCredentials(
        server.token_endpoint,
        kwargs.pop("client_id", DEMO_CLIENT_ID),  # type: ignore[arg-type]
        kwargs.pop("client_secret", DEMO_CLIENT_SECRET),  # type: ignore[arg-type]
        scopes=["read:messages"],
        http=http,
        allow_insecure_http=True,
    )


def _always_401(calls: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    return httpx.MockTransport(handler)


class _Precomputed:
    """A source that is no reuse() cache but has a fresh() (the FreshSource protocol)."""

    def __init__(self, token: Token) -> None:
        self._token = token
        self.token_calls = 0

    def fresh(self) -> Token | None:
        return self._token

    async def token(self) -> Token:
        self.token_calls += 1
        return self._token

    def invalidate(self, token: Token) -> None:
        return None


async def test_any_source_with_fresh_has_its_fresh_token_taken_directly() -> None:
    """TokenAuth finds fresh() by protocol: such a source's token() is not called while fresh."""
    source = _Precomputed(Token("pre-computed"))
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with TokenAuth(source) as auth:
        async with httpx.AsyncClient(auth=auth, transport=transport) as api:
            response = await api.get("https://api.example/a")
        with httpx.Client(auth=auth, transport=transport) as sapi:
            sync_response = await anyio.to_thread.run_sync(sapi.get, "https://api.example/b")
    assert response.request.headers["authorization"] == "Bearer pre-computed"
    assert sync_response.request.headers["authorization"] == "Bearer pre-computed"
    assert source.token_calls == 0


async def test_sets_authorization_with_the_tokens_own_type() -> None:
    """The header carries the token's type and value, on every request."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200)

    auth = TokenAuth(Static(Token("abc", token_type="DPoP")))
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as client:
        await client.get("https://api.example/a")
        await client.get("https://api.example/b")
    assert seen == ["DPoP abc", "DPoP abc"]


async def test_private_api_accepts_requests() -> None:
    """A request through TokenAuth reaches /api/private with a valid token."""
    server = AuthorizationServer()
    with anyio.fail_after(10):
        async with server.client() as http, server.client() as api:
            api.auth = TokenAuth(reuse(_source(server, http)))
            response = await api.get("/api/private")
    assert response.status_code == 200
    assert server.counters.token_requests == 1


async def test_401_invalidates_and_resends_once_with_a_fresh_token() -> None:
    """After the API rotates its keys, one request gets a 401, a new token, then 200."""
    server = AuthorizationServer()
    with anyio.fail_after(10):
        async with server.client() as http, server.client() as api:
            api.auth = TokenAuth(reuse(_source(server, http)))
            assert (await api.get("/api/private")).status_code == 200
            server.rotate_keys()
            response = await api.get("/api/private")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert server.counters.token_requests == 2
    assert server.counters.api_requests == 3


async def test_second_401_is_returned_as_is() -> None:
    """An API that rejects every token gets exactly two tries and the caller sees the 401."""
    server = AuthorizationServer()
    calls: list[httpx.Request] = []
    with anyio.fail_after(10):
        async with server.client() as http:
            auth = TokenAuth(reuse(_source(server, http)))
            async with httpx.AsyncClient(auth=auth, transport=_always_401(calls)) as api:
                response = await api.get("https://api.example/private")
    assert response.status_code == 401
    assert len(calls) == 2
    assert server.counters.token_requests == 2


async def test_streaming_upload_is_not_resent() -> None:
    """A 401 to a request with a streaming body is returned without a resend."""
    server = AuthorizationServer()
    calls: list[httpx.Request] = []
    chunks_read = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal chunks_read
        for chunk in (b"a", b"b"):
            chunks_read += 1
            yield chunk

    with anyio.fail_after(10):
        async with server.client() as http:
            auth = TokenAuth(reuse(_source(server, http)))
            async with httpx.AsyncClient(auth=auth, transport=_always_401(calls)) as api:
                response = await api.post("https://api.example/upload", content=upload())
                assert response.status_code == 401
                assert len(calls) == 1
                # The rejected token was dropped: the next request fetches a new one.
                await api.get("https://api.example/private")
    assert chunks_read == 2
    assert server.counters.token_requests == 3


async def test_in_memory_body_is_resent_intact() -> None:
    """A 401 to a request with a bytes body resends the same body."""
    server = AuthorizationServer()
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(401 if len(bodies) == 1 else 200)

    with anyio.fail_after(10):
        async with server.client() as http:
            auth = TokenAuth(reuse(_source(server, http)))
            transport = httpx.MockTransport(handler)
            async with httpx.AsyncClient(auth=auth, transport=transport) as api:
                response = await api.post("https://api.example/x", json={"n": 1})
    assert response.status_code == 200
    assert bodies == [b'{"n":1}', b'{"n":1}']


class _Network(httpx.AsyncBaseTransport):
    """The in-process transport plus a network round trip before each request.

    In-process requests never suspend, so without the round trip concurrent
    requests would be served one after another and never overlap.
    """

    def __init__(self, server: AuthorizationServer, delay: float) -> None:
        self._inner = InProcessTransport(app=server)
        self._delay = delay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(self._delay)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _storm(api: httpx.AsyncClient) -> list[int]:
    """Send STORM concurrent requests to /api/private and return their statuses."""
    statuses: list[int] = []

    async def call() -> None:
        statuses.append((await api.get("/api/private")).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(STORM):
            tg.start_soon(call)
    return statuses


async def test_cold_storm_fetches_one_token() -> None:
    """2 000 concurrent requests on a cold cache cause one token request."""
    server = AuthorizationServer()
    # The token request takes a while, so every request arrives during it.
    server.faults.latency = NETWORK_DELAY
    with anyio.fail_after(60):
        async with (
            server.client() as http,
            server.client(transport=_Network(server, NETWORK_DELAY)) as api,
        ):
            api.auth = TokenAuth(reuse(_source(server, http)))
            statuses = await _storm(api)
    assert statuses == [200] * STORM
    assert server.counters.token_requests == 1


async def test_key_rotation_storm_fetches_one_new_token() -> None:
    """After a key rotation, 2 000 concurrent 401s for the old token cause one new token request."""
    server = AuthorizationServer()
    server.faults.latency = NETWORK_DELAY
    transport = _Network(server, NETWORK_DELAY)
    with anyio.fail_after(60):
        async with server.client() as http, server.client(transport=transport) as api:
            api.auth = TokenAuth(reuse(_source(server, http)))
            assert (await api.get("/api/private")).status_code == 200
            server.rotate_keys()
            statuses = await _storm(api)
    assert statuses == [200] * STORM
    # Every request went out with the old token before the first 401 came back.
    assert server.counters.api_unauthorized == STORM
    assert server.counters.token_requests == 2


async def test_token_errors_surface_typed_without_the_secret() -> None:
    """A rejected client secret raises TokenEndpointError from client.get, secret-free."""
    server = AuthorizationServer()
    secret = "wrong-secret-do-not-print-1234"
    with anyio.fail_after(10):
        async with server.client() as http, server.client() as api:
            api.auth = TokenAuth(reuse(_source(server, http, client_secret=secret)))
            with pytest.raises(TokenEndpointError) as caught:
                await api.get("/api/private")
    assert caught.value.error == "invalid_client"
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert server.counters.api_requests == 0


async def test_secrets_never_reach_httpx_logs(caplog: pytest.LogCaptureFixture) -> None:
    """httpx, httpcore and tokensources debug logs never contain the token or the secret."""
    server = AuthorizationServer()
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with server.serve() as base, httpx.AsyncClient() as http:
            source = reuse(_source(server, http))
            async with httpx.AsyncClient(base_url=base, auth=TokenAuth(source)) as api:
                assert (await api.get("/api/private")).status_code == 200
                server.rotate_keys()
                response = await api.get("/api/private")
                response.raise_for_status()
                request_repr = repr(response.request.headers)
    token = source.peek()
    assert token is not None
    assert "httpcore" in caplog.text
    assert token.access_token not in caplog.text
    assert DEMO_CLIENT_SECRET not in caplog.text
    assert token.access_token not in request_repr


async def test_status_error_message_has_no_token() -> None:
    """raise_for_status() on a second 401 names the URL and status, not the token."""
    calls: list[httpx.Request] = []
    auth = TokenAuth(Static("sekrit-token-value"))
    async with httpx.AsyncClient(auth=auth, transport=_always_401(calls)) as api:
        response = await api.get("https://api.example/private")
        with pytest.raises(httpx.HTTPStatusError) as caught:
            response.raise_for_status()
    assert "sekrit-token-value" not in str(caught.value)
    assert "sekrit-token-value" not in repr(response.request.headers)


async def test_cancelled_request_leaves_the_auth_usable() -> None:
    """Cancelling requests while the token is being fetched does not break later requests."""
    server = AuthorizationServer()
    server.faults.latency = 0.5
    with anyio.fail_after(10):
        async with server.client() as http, server.client() as api:
            api.auth = TokenAuth(reuse(_source(server, http)))
            with anyio.move_on_after(0.05):
                await api.get("/api/private")
            server.faults.latency = 0
            response = await api.get("/api/private")
    assert response.status_code == 200
