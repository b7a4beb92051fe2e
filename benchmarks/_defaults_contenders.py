"""The contenders of ``bench_defaults``, each set up as its documentation's first example shows.

No option is tuned: no leeway or early expiry chosen for the benchmark, no
token fetched ahead unless the library requires it. The API they call is
in-process (``api_mounts``): a couple of milliseconds per answer, 401 for
a missing or revoked token. Token requests go to the testing server over
loopback HTTP.

- ``tokensources``: ``TokenAuth(reuse(ClientCredentials(...)))`` (and
  ``RedisShared`` instead of ``reuse`` across processes);
- ``authlib``: ``AsyncOAuth2Client`` / ``OAuth2Client`` with
  ``grant_type="client_credentials"``; ``seed=True`` calls ``fetch_token()``
  first, as its documentation does (without it every request raises
  ``MissingTokenError``);
- ``httpx-auth``: ``OAuth2ClientCredentials`` (its own blocking client for
  tokens, a process-wide cache);
- ``naive``: ``if token is None or expired: token = fetch()``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from tokensources import ClientCredentials, TokenAuth, reuse

__all__ = ["API", "Api", "Send", "SyncSend", "Target", "async_contender", "sync_contender"]

API = "https://api.example/private"
API_LATENCY = 0.002

Send = Callable[[], Awaitable[httpx.Response]]
SyncSend = Callable[[], httpx.Response]


@dataclass
class Api:
    """The protected API: 200 for a bearer token it has not been told to reject, else 401."""

    revoked: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or token in self.revoked:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self.seen.add(token)
        return httpx.Response(200, json={"ok": True})

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer after ``API_LATENCY``, as an API on the network would."""
        await anyio.sleep(API_LATENCY)
        return self._answer(request)

    def handle_sync(self, request: httpx.Request) -> httpx.Response:
        """The same, for sync clients (the calling thread sleeps)."""
        time.sleep(API_LATENCY)
        return self._answer(request)

    def revoke_all_seen(self) -> None:
        """Reject every token used so far, as after a revocation or a key rotation."""
        self.revoked |= self.seen


@dataclass(frozen=True)
class Target:
    """Where a contender gets tokens (the testing server) and sends requests (``api``)."""

    token_url: str
    client_id: str
    client_secret: str
    api: Api
    redis_url: str | None = None  # set: tokensources shares its token through RedisShared

    def mounts(self) -> dict[str, httpx.AsyncBaseTransport]:
        """The API in-process; everything else (the token endpoint) over real HTTP."""
        return {"all://api.example": httpx.MockTransport(self.api.handle)}

    def sync_mounts(self) -> dict[str, httpx.BaseTransport]:
        """``mounts`` for sync clients."""
        return {"all://api.example": httpx.MockTransport(self.api.handle_sync)}


def _quiet_authlib() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations import httpx_client  # type: ignore[import-untyped]
    return httpx_client


@contextlib.asynccontextmanager
async def _tokensources(target: Target, seed: bool) -> AsyncIterator[Send]:
    inner = ClientCredentials(target.token_url, target.client_id, target.client_secret)
    async with contextlib.AsyncExitStack() as stack:
        if target.redis_url is None:
            source: Any = reuse(inner)
        else:
            import redis.asyncio

            from tokensources.shared import RedisShared

            client = redis.asyncio.Redis.from_url(target.redis_url)
            stack.push_async_callback(client.aclose)
            source = RedisShared(inner, client)
        await stack.enter_async_context(source)
        http = httpx.AsyncClient(auth=TokenAuth(source), mounts=target.mounts())
        await stack.enter_async_context(http)
        if seed:
            await source.token()
        yield lambda: http.get(API)


@contextlib.asynccontextmanager
async def _authlib(target: Target, seed: bool) -> AsyncIterator[Send]:
    client = _quiet_authlib().AsyncOAuth2Client(
        target.client_id,
        target.client_secret,
        token_endpoint=target.token_url,
        grant_type="client_credentials",
        mounts=target.mounts(),
    )
    async with client:
        if seed:
            await client.fetch_token()
        yield lambda: client.get(API)


@contextlib.asynccontextmanager
async def _httpx_auth(target: Target, seed: bool) -> AsyncIterator[Send]:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()  # process-wide: forget the previous run's token
    auth = httpx_auth.OAuth2ClientCredentials(
        target.token_url, target.client_id, target.client_secret
    )
    async with httpx.AsyncClient(auth=auth, mounts=target.mounts()) as client:
        if seed:
            await client.get(API)
        yield lambda: client.get(API)


class _Naive:
    """The cache everyone writes first: fetch when there is no token or it has expired."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._token: str | None = None
        self._expires_at = 0.0

    def _needs_token(self) -> bool:
        return self._token is None or time.time() >= self._expires_at

    def _keep(self, sent: float, response: httpx.Response) -> str:
        body = response.raise_for_status().json()
        self._token, self._expires_at = body["access_token"], sent + body["expires_in"]
        return f"Bearer {self._token}"

    def _form(self) -> dict[str, Any]:
        target = self._target
        return {
            "data": {"grant_type": "client_credentials"},
            "auth": (target.client_id, target.client_secret),
        }

    async def header(self, http: httpx.AsyncClient) -> str:
        """``Bearer <token>``, fetching one first when there is none or it expired."""
        if self._needs_token():
            sent = time.time()
            return self._keep(sent, await http.post(self._target.token_url, **self._form()))
        return f"Bearer {self._token}"

    def header_sync(self, http: httpx.Client) -> str:
        """``header`` for sync code."""
        if self._needs_token():
            sent = time.time()
            return self._keep(sent, http.post(self._target.token_url, **self._form()))
        return f"Bearer {self._token}"


@contextlib.asynccontextmanager
async def _naive(target: Target, seed: bool) -> AsyncIterator[Send]:
    cache = _Naive(target)
    async with httpx.AsyncClient(mounts=target.mounts()) as client:

        async def send() -> httpx.Response:
            return await client.get(API, headers={"Authorization": await cache.header(client)})

        if seed:
            await send()
        yield send


_ASYNC = {
    "tokensources": _tokensources,
    "authlib": _authlib,
    "httpx-auth": _httpx_auth,
    "naive": _naive,
}


def async_contender(
    name: str, target: Target, *, seed: bool = False
) -> contextlib.AbstractAsyncContextManager[Send]:
    """An async client of contender ``name``; ``seed`` fetches its first token before use."""
    return _ASYNC[name](target, seed)


@contextlib.contextmanager
def _tokensources_sync(target: Target) -> Iterator[SyncSend]:
    source = reuse(ClientCredentials(target.token_url, target.client_id, target.client_secret))
    with TokenAuth(source) as auth, httpx.Client(auth=auth, mounts=target.sync_mounts()) as client:
        yield lambda: client.get(API)


@contextlib.contextmanager
def _authlib_sync(target: Target) -> Iterator[SyncSend]:
    client = _quiet_authlib().OAuth2Client(
        target.client_id,
        target.client_secret,
        token_endpoint=target.token_url,
        grant_type="client_credentials",
        mounts=target.sync_mounts(),
    )
    with client:
        yield lambda: client.get(API)


@contextlib.contextmanager
def _httpx_auth_sync(target: Target) -> Iterator[SyncSend]:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()
    auth = httpx_auth.OAuth2ClientCredentials(
        target.token_url, target.client_id, target.client_secret
    )
    with httpx.Client(auth=auth, mounts=target.sync_mounts()) as client:
        yield lambda: client.get(API)


@contextlib.contextmanager
def _naive_sync(target: Target) -> Iterator[SyncSend]:
    cache = _Naive(target)
    with httpx.Client(mounts=target.sync_mounts()) as client:

        def send() -> httpx.Response:
            return client.get(API, headers={"Authorization": cache.header_sync(client)})

        yield send


_SYNC = {
    "tokensources": _tokensources_sync,
    "authlib": _authlib_sync,
    "httpx-auth": _httpx_auth_sync,
    "naive": _naive_sync,
}


def sync_contender(name: str, target: Target) -> contextlib.AbstractContextManager[SyncSend]:
    """A sync client of contender ``name``, to be shared by many threads; nothing fetched ahead."""
    return _SYNC[name](target)
