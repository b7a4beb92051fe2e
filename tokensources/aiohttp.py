"""``aiohttp`` support: a client middleware that puts a source's token on every request.

Needs the ``aiohttp`` extra (``pip install "tokensources[aiohttp]"``, aiohttp
3.12 or later, the first with client middlewares)::

    import aiohttp
    from tokensources.aiohttp import TokenMiddleware

    async with aiohttp.ClientSession(middlewares=(TokenMiddleware(source),)) as session:
        ...
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from functools import partial

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, payload

from ._blocking import check_backend, check_source
from ._bridge import acquire_bridge, release_bridge
from ._closing import Closing
from ._dpop_auth import DPoPRequests, DPoPSend, refuses_proof
from ._errors import ConfigError
from ._rejections import Rejections, origin
from ._source import Clock, FreshSource, TokenSource
from ._token import Token

__all__ = ["TokenMiddleware"]

_UNAUTHORIZED = 401


class TokenMiddleware(Closing):
    """An ``aiohttp`` client middleware authenticating requests with a token source.

    Every request gets ``Authorization: <token_type> <access_token>``. When
    the API answers 401, the rejected token is passed to
    ``source.invalidate()`` and the request is sent once more with a fresh
    token; if that answer is a 401 too, it is returned as it is. A request
    whose body cannot be sent twice (a stream, an async generator, a file
    that cannot seek back) is not resent: the 401 is returned, and the next
    request gets a fresh token.

    Tokens go only to the origins (scheme, host and port) named by
    ``origins``, by default the origin of the first request the middleware
    handles (as aiohttp's own ``DigestAuthMiddleware`` does). aiohttp runs
    its middlewares on every redirect too: a redirect to another origin, or
    any request there, goes through without a token, so that an API
    redirecting elsewhere never hands your token to someone else. Give
    ``origins`` when one middleware serves several APIs.

    An API that rejects even the fresh token (a wrong audience, a
    misconfigured gateway) does not cost a token request per request: from
    then on its 401s are returned as they are, without a new token, for a
    backoff of about a second that doubles (with jitter) while the
    rejections go on, up to 30 seconds; any 2xx answer from that API ends
    it. APIs are told apart by origin (scheme, host and port), as the httpx
    ``TokenAuth`` does.

    DPoP (RFC 9449), as the httpx ``TokenAuth`` does it: a token bound to a
    DPoP key (``token.jkt``, from a source given ``dpop=``) goes out as
    ``Authorization: DPoP <token>`` with a fresh ``DPoP`` proof (with
    ``ath``) on every send and resend, signed by the key with the token's
    thumbprint loaded in this process. The ``DPoP-Nonce`` of every answer is
    remembered per origin, and a 401 with ``WWW-Authenticate: DPoP
    error="use_dpop_nonce"`` is sent once more with the new nonce (a
    replayable body only) — without invalidating the token or counting a
    rejection, which ``error="invalid_dpop_proof"`` is not either. The first
    request to an origin goes first while the others wait for its answer (a
    second at most), so that a burst learns the origin's nonce once. A
    bearer token never carries a proof.

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
        origins: the origins tokens may be sent to (``"https://api.example"``;
            a path is ignored), or None for the first request's origin.
        clock: wall-clock time in epoch seconds, for the backoff after an
            API rejected a fresh token. Default ``time.time``.

    Raises:
        ConfigError: ``source`` is not a token source, ``portal_backend``
            is neither ``"asyncio"`` nor ``"trio"``, ``origins`` is not a
            collection of http(s) URLs, or ``clock`` is not callable.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        portal_backend: str = "asyncio",
        origins: Iterable[str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        check_source(source, "tokensources.aiohttp.TokenMiddleware")
        check_backend(portal_backend, "tokensources.aiohttp.TokenMiddleware")
        self._origins = None if origins is None else _checked_origins(origins)
        self._source = source
        self._rejections = Rejections(clock)
        self._fresh: Callable[[], Token | None] = (
            source.fresh if isinstance(source, FreshSource) else _nothing_fresh
        )
        self._dpop = DPoPRequests()
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
            ConfigError: the token is bound to a DPoP key that is not
                loaded in this process.
        """
        api = origin(str(request.url))
        if self._origins is None:
            self._origins = frozenset((api,))  # pinned by the first request
        if api not in self._origins:
            return await handler(request)  # a redirect elsewhere, or another API
        # Decided before sending: sending consumes a stream.
        replayable = _replayable(request)
        token = self._fresh()  # the hot path: no await
        if token is None:
            token = await self._bridge.acall(self._source.token)
        bound = None if token.jkt is None else await self._first_bound(request, token)
        try:
            response = await self._send(request, handler, token, bound, replayable=replayable)
            if response.status != _UNAUTHORIZED:
                if self._rejections.origins:  # empty in the normal case: one truth test
                    self._rejections.answered(api, response.status)
                return response
            if _proof_refused(response, bound) or self._rejections.backing_off(api):
                return response  # a nonce challenge rejects nothing
            if not replayable:
                await self._bridge.acall(partial(_invalidate, self._source, token))
                return response
            token = await self._bridge.acall(partial(_refresh, self._source, token))
            await response.release()  # the 401's connection goes back to the pool
            bound = self._rebound(token, bound)
            answer = await self._send(request, handler, token, bound, replayable=replayable)
            if not _proof_refused(answer, bound):
                self._rejections.answered(api, answer.status)
            return answer
        finally:
            if bound is not None:
                bound.end_first_contact(str(request.url))

    async def _send(
        self,
        request: ClientRequest,
        handler: ClientHandlerType,
        token: Token,
        bound: DPoPSend | None,
        *,
        replayable: bool,
    ) -> ClientResponse:
        """Send ``request`` with ``token``; with a bound token, answer one nonce challenge.

        RFC 9449 §9: a ``use_dpop_nonce`` challenge is sent once more with a
        fresh proof carrying the new nonce (a replayable body only), with
        the same token: it is no rejection.
        """
        self._authorize(request, token, bound)
        response = await handler(request)
        if bound is None:
            return response
        url = str(request.url)
        if bound.earns_retry(url, response.status, response.headers, replayable):
            await response.release()  # the challenge's connection goes back to the pool
            self._authorize(request, token, bound)
            response = await handler(request)
            bound.learn(url, response.headers)
        return response

    def _authorize(self, request: ClientRequest, token: Token, bound: DPoPSend | None) -> None:
        """Put ``token`` on ``request``, with a fresh DPoP proof when it is bound.

        The one place that knows how a token goes on a request: a
        DPoP-bound token (RFC 9449 §7.1) goes as ``Authorization: DPoP
        <token>`` with a new ``DPoP`` proof for this method and URL on every
        send; a bearer token never travels with a proof (a resend after a
        bound token takes the old proof off).
        """
        headers = request.headers
        if bound is not None:
            for name, value in bound.headers(request.method, str(request.url)).items():
                headers[name] = value
            return
        headers["Authorization"] = token.authorization
        if "DPoP" in headers:
            del headers["DPoP"]

    async def _first_bound(self, request: ClientRequest, token: Token) -> DPoPSend:
        """The DPoP of a request with the bound ``token``, once it may go (a first contact)."""
        bound = DPoPSend(self._dpop, token)
        await bound.wait_first_contact(str(request.url))
        return bound

    def _rebound(self, token: Token, before: DPoPSend | None) -> DPoPSend | None:
        """The DPoP of the resend with the fresh ``token``; the nonce retry stays spent."""
        if token.jkt is None:
            return None
        return DPoPSend(self._dpop, token, retried=before is not None and before.retried)

    def close(self) -> None:
        """Let go of the source's bridge (see ``TokenAuth.close()``). Idempotent."""
        self._release()

    def __repr__(self) -> str:
        return f"TokenMiddleware({self._source!r})"


def _proof_refused(response: ClientResponse, bound: DPoPSend | None) -> bool:
    """Whether ``response`` to a bound token refuses its DPoP proof: a 401 rejecting nothing."""
    return bound is not None and refuses_proof(response.status, response.headers)


def _replayable(request: ClientRequest) -> bool:
    """Whether the body is held in memory (none, bytes, text, JSON, a form), so it can be resent."""
    body = request.body
    return body == b"" or isinstance(body, payload.BytesPayload)


def _checked_origins(origins: Iterable[str]) -> frozenset[str]:
    """The normalised origins of ``origins``, refusing anything but http(s) URL strings."""
    given = [origins] if isinstance(origins, str) else list(origins)
    if not given or not all(isinstance(url, str) for url in given):
        raise ConfigError("origins must be a non-empty collection of http(s) URLs")
    allowed = frozenset(origin(url) for url in given)
    if not all(api.startswith(("https://", "http://")) for api in allowed):
        raise ConfigError("origins must be http(s) URLs such as 'https://api.example'")
    return allowed


def _nothing_fresh() -> Token | None:
    return None


async def _invalidate(source: TokenSource, token: Token) -> None:
    source.invalidate(token)


async def _refresh(source: TokenSource, rejected: Token) -> Token:
    # The cache drops `rejected` only if it is still the cached token, so
    # many concurrent 401s for the same token cause one refresh.
    source.invalidate(rejected)
    return await source.token()
