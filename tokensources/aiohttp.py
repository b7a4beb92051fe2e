"""``aiohttp`` support: a client middleware that puts a source's token on every request.

Needs the ``aiohttp`` extra (``pip install "tokensources[aiohttp]"``, aiohttp
3.12 or later, the first with client middlewares)::

    import aiohttp
    from tokensources.aiohttp import TokenMiddleware

    async with aiohttp.ClientSession(middlewares=(TokenMiddleware(source),)) as session:
        ...
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import partial
from types import TracebackType

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, payload

from ._blocking import check_source
from ._bridge import acquire_bridge, release_bridge
from ._source import FreshSource, TokenSource
from ._token import Token

__all__ = ["TokenMiddleware"]

_UNAUTHORIZED = 401


class TokenMiddleware:
    """An ``aiohttp`` client middleware authenticating requests with a token source.

    Every request gets ``Authorization: <token_type> <access_token>``. When
    the API answers 401, the rejected token is passed to
    ``source.invalidate()`` and the request is sent once more with a fresh
    token; if that answer is a 401 too, it is returned as it is. A request
    whose body cannot be sent twice (a stream, an async generator, a file
    that cannot seek back) is not resent: the 401 is returned, and the next
    request gets a fresh token.

    Use it with a caching source, e.g. ``reuse(ClientCredentials(...))``:
    concurrent requests share one token and one refresh, and a fresh token
    is taken without a suspension. One source may serve this middleware,
    ``httpx`` clients (``TokenAuth``) and sync code (``blocking()``) at once:
    the source lives on one event loop, as ``TokenAuth`` explains, and this
    middleware reaches it there.

    Concurrency and cancellation: one middleware may serve any number of
    sessions and concurrent requests. Cancelling a request while it waits
    for a token cancels only that wait. aiohttp runs on asyncio only.

    ``close()`` (or ``with TokenMiddleware(...) as middleware:``) lets go of
    the source's bridge, as ``TokenAuth.close()`` does.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend of the private loop the source
            moves to if threads use it too.

    Raises:
        ConfigError: ``source`` is not a token source.
    """

    def __init__(self, source: TokenSource, *, portal_backend: str = "asyncio") -> None:
        check_source(source, "tokensources.aiohttp.TokenMiddleware")
        self._source = source
        self._fresh: Callable[[], Token | None] = (
            source.fresh if isinstance(source, FreshSource) else _nothing_fresh
        )
        self._bridge = acquire_bridge(source, private_backend=portal_backend)
        self._release = weakref.finalize(self, release_bridge, source)

    @property
    def source(self) -> TokenSource:
        """The token source this middleware draws from."""
        return self._source

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Authorise ``request``, send it, and on a 401 refresh and resend once.

        Raises:
            TokenSourceError: no token could be had.
        """
        # Decided before sending: sending consumes a stream.
        replayable = _replayable(request)
        token = self._fresh()  # the hot path: no await
        if token is None:
            token = await self._bridge.acall(self._source.token)
        self._authorize(request, token)
        response = await handler(request)
        if response.status != _UNAUTHORIZED:
            return response
        if not replayable:
            await self._bridge.acall(partial(_invalidate, self._source, token))
            return response
        token = await self._bridge.acall(partial(_refresh, self._source, token))
        await response.release()  # the 401's connection goes back to the pool
        self._authorize(request, token)
        return await handler(request)

    def _authorize(self, request: ClientRequest, token: Token) -> None:
        """Put ``token`` on ``request``.

        The one place that knows how a token goes on a request: a
        DPoP-bound token (``token_type == "DPoP"``, RFC 9449) also needs a
        ``DPoP`` proof header for this method and URL, and a nonce retry;
        they belong here.
        """
        request.headers["Authorization"] = token.authorization

    def close(self) -> None:
        """Let go of the source's bridge (see ``TokenAuth.close()``). Idempotent."""
        self._release()

    def __enter__(self) -> TokenMiddleware:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokenMiddleware({self._source!r})"


def _replayable(request: ClientRequest) -> bool:
    """Whether the body is held in memory (none, bytes, text, JSON, a form), so it can be resent."""
    body = request.body
    return body == b"" or isinstance(body, payload.BytesPayload)


def _nothing_fresh() -> Token | None:
    return None


async def _invalidate(source: TokenSource, token: Token) -> None:
    source.invalidate(token)


async def _refresh(source: TokenSource, rejected: Token) -> Token:
    # The cache drops `rejected` only if it is still the cached token, so
    # many concurrent 401s for the same token cause one refresh.
    source.invalidate(rejected)
    return await source.token()
