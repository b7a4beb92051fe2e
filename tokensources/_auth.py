"""TokenAuth: an ``httpx.Auth`` that puts a source's token on every request."""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from functools import partial
from types import TracebackType

import httpx

from ._portal import acquire_bridge, release_bridge
from ._source import TokenSource
from ._token import Token
from .wrappers._reuse import Reuse

__all__ = ["TokenAuth"]

_UNAUTHORIZED = 401


class TokenAuth(httpx.Auth):
    """Authenticates ``httpx`` requests with tokens from a token source.

    Every request gets ``Authorization: <token_type> <access_token>``, with
    the token's own type (``Bearer``, ``DPoP``, ...). When the API answers
    401 (for example ``WWW-Authenticate: Bearer error="invalid_token"``, RFC
    6750 §3.1), the rejected token is passed to ``source.invalidate()`` and
    the request is sent once more with a fresh token; if that answer is a
    401 too, it is returned as it is. A request whose body cannot be sent
    twice (a streaming upload from a generator or a file) is not resent: the
    401 is returned, and the next request gets a fresh token.

    Use it with a caching source, e.g. ``reuse(ClientCredentials(...))``:
    then concurrent requests share one token and one refresh, and a burst of
    401s after the API rotated its keys costs one token request, because
    the cache drops a rejected token only if it is still the cached one.

    Works with ``httpx.AsyncClient`` (on asyncio or trio) and with the sync
    ``httpx.Client``, and one ``TokenAuth`` (or one source) may serve both:
    the source lives on one event loop — the loop of the first async task
    that used it, or else a private loop in a daemon thread started by the
    first sync request — and calls from threads and from other loops are
    run there. No event loop waits for token I/O: threads block only
    themselves and async callers from other loops wait in a worker thread.
    Using a sync client *inside* the loop the source lives on raises
    ``RuntimeError`` instead of deadlocking.

    Errors of the source (``TokenSourceError`` and its subclasses) reach the
    caller of ``client.get()`` unchanged. The token never appears in
    ``httpx`` logs or in exception messages (``httpx`` masks the
    ``Authorization`` header as ``[secure]`` in ``repr``).

    ``close()`` (or ``with TokenAuth(...) as auth:``) lets go of the
    source's bridge. When the last ``TokenAuth`` of a source closes (or is
    garbage-collected) and the source lives on the private loop, the
    source's ``aclose()`` is awaited on that loop, then the loop stops. A
    source living on your own event loop is never closed by a ``TokenAuth``.

    With a ``reuse()`` cache as the source, a request from another thread
    or another event loop than the source's home takes a fresh cached token
    directly (``Reuse.fresh()``), without waiting for the home loop; only
    a refresh goes through the bridge.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend (``"asyncio"`` or ``"trio"``) of
            the private loop started for sync requests when the source has
            no home loop.
    """

    def __init__(self, source: TokenSource, *, portal_backend: str = "asyncio") -> None:
        self._source = source
        # Thread-safe and lock-free: lets callers off the home loop skip the hop.
        self._fresh: Callable[[], Token | None] = (
            source.fresh if isinstance(source, Reuse) else _nothing_fresh
        )
        self._bridge = acquire_bridge(source, portal_backend=portal_backend)
        # The bridge is shared per source; a forgotten TokenAuth still lets go.
        self._release = weakref.finalize(self, release_bridge, source)

    @property
    def source(self) -> TokenSource:
        """The token source this auth draws from."""
        return self._source

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The ``httpx.AsyncClient`` flow: authorise, and on a 401 refresh and resend once.

        Concurrency and cancellation: safe for any number of concurrent
        requests; they share the source's single flight. Cancelling a
        request while it waits for a token cancels only that wait.
        """
        # Decided before sending: a transport may buffer the body while sending it.
        replayable = _replayable(request)
        if self._bridge.at_home():
            token = await self._source.token()  # the hot path: no extra frame
        else:
            fresh = self._fresh()
            token = fresh if fresh is not None else await self._bridge.acall(self._source.token)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if response.status_code != _UNAUTHORIZED:
            return
        if not replayable:
            await self._bridge.acall(partial(_invalidate, self._source, token))
            return
        token = await self._bridge.acall(partial(_refresh, self._source, token))
        request.headers["Authorization"] = token.authorization
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """The ``httpx.Client`` flow: the same as the async flow, run through the bridge.

        Blocks the calling thread (only) while a token is fetched.

        Raises:
            RuntimeError: called on the thread of the event loop the source
                lives on (it would deadlock), or after ``close()``.
        """
        # Decided before sending: a transport may buffer the body while sending it.
        replayable = _replayable(request)
        # On the home loop's thread (it would deadlock) and after close(),
        # call() refuses even while the token is fresh: misuse shows at once.
        bridge = self._bridge
        fresh = None if bridge.closed or bridge.at_home() else self._fresh()
        token = fresh if fresh is not None else bridge.call(self._source.token)
        request.headers["Authorization"] = token.authorization
        response = yield request
        if response.status_code != _UNAUTHORIZED:
            return
        if not replayable:
            self._bridge.call(partial(_invalidate, self._source, token))
            return
        token = self._bridge.call(partial(_refresh, self._source, token))
        request.headers["Authorization"] = token.authorization
        yield request

    def close(self) -> None:
        """Let go of the source's bridge; the last ``TokenAuth`` of a source stops its private loop.

        Idempotent. If the source lives on the private loop of the sync
        path, its ``aclose()`` is awaited there first (its connections
        belong to that loop); a source living on your own event loop is
        never closed here. After ``close()`` async requests keep working and
        sync requests raise ``RuntimeError``.
        """
        self._release()

    def __enter__(self) -> TokenAuth:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokenAuth({self._source!r})"


def _nothing_fresh() -> Token | None:
    return None


def _replayable(request: httpx.Request) -> bool:
    """Whether ``request``'s body can be sent again as it was.

    A body given as bytes, text, form data or JSON is held in memory
    (``httpx.ByteStream``) and replays; a generator, an async iterator, a
    file or a multipart upload is read once, and is never buffered here just
    to be able to resend it.
    """
    return isinstance(request.stream, httpx.ByteStream)


async def _invalidate(source: TokenSource, token: Token) -> None:
    source.invalidate(token)


async def _refresh(source: TokenSource, rejected: Token) -> Token:
    # The cache drops `rejected` only if it is still the cached token, so
    # many concurrent 401s for the same token cause one refresh.
    source.invalidate(rejected)
    return await source.token()
