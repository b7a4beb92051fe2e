"""TokenAuth: an ``httpx.Auth`` that puts a source's token on every request."""

from __future__ import annotations

import enum
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from functools import partial

import anyio
import anyio.lowlevel
import httpx

from ._bridge import acquire_bridge, release_bridge
from ._closing import Closing
from ._dpop_auth import BoundSend, DPoPRequests
from ._errors import ConfigError
from ._rejections import Rejections, origin
from ._source import Clock, FreshSource, TokenSource
from ._token import Token
from .wrappers._margin import LearnsDelays

__all__ = ["TokenAuth"]

_UNAUTHORIZED = 401


class TokenAuth(Closing, httpx.Auth):
    """Authenticates ``httpx`` requests with tokens from a token source.

    Every request gets ``Authorization: <token_type> <access_token>``, with
    the token's own type (``Bearer``, ``DPoP``, ...). When the API answers
    401 (for example ``WWW-Authenticate: Bearer error="invalid_token"``, RFC
    6750 §3.1), the rejected token is passed to ``source.invalidate()`` and
    the request is sent once more with a fresh token; if that answer is a
    401 too, it is returned as it is. A request whose body cannot be sent
    twice (a streaming upload from a generator or a file) is not resent: the
    401 is returned, and the next request gets a fresh token.

    An API that rejects even the fresh token (a wrong audience, a
    misconfigured gateway) does not cost a token request per request: from
    then on its 401s are returned as they are, without a new token, for a
    backoff of about a second that doubles (with jitter) while the
    rejections go on, up to 30 seconds; then one 401 is tried with a fresh
    token again. Any 2xx answer from that API ends the backoff. APIs are
    told apart by origin (scheme, host and port).

    DPoP (RFC 9449): a token bound to a DPoP key (``token.jkt``, from a
    source given ``dpop=``) goes out as ``Authorization: DPoP <token>`` with
    a fresh ``DPoP`` proof (with ``ath``) on every send and resend; the key
    is the one with the token's thumbprint loaded in this process. The
    ``DPoP-Nonce`` of every answer is remembered per origin, and a 401 with
    ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` is sent once more with
    the new nonce (a replayable body only) — without invalidating the token
    or counting a rejection: it is no rejection. The first request to an
    origin goes alone while others of the same loop wait for its answer, so
    that a burst learns the origin's nonce once. A bearer token never
    carries a proof.

    Use it with a caching source, e.g. ``reuse(ClientCredentials(...))``:
    then concurrent requests share one token and one refresh, and a burst of
    401s after the API rotated its keys costs one token request, because
    the cache drops a rejected token only if it is still the cached one.

    Response event hooks run before any ``httpx.Auth`` sees the response,
    so a hook that raises on errors (``event_hooks={"response":
    [raise_for_status]}``) raises on the 401 before ``TokenAuth`` can
    refresh the token and resend; the rejected token then stays cached.
    Raise for status on the response that ``client.send()`` returns
    instead (override ``send()`` in a client subclass to do it for every
    request): see the httpx page of the documentation.

    Works with ``httpx.AsyncClient`` (on asyncio or trio) and with the sync
    ``httpx.Client``, and one ``TokenAuth`` (or one source) may serve both.
    The source lives on one event loop: the loop of the first async task
    that used it while no other caller shows up, and once a thread (a sync
    request) or a task of another loop uses it, a private loop in a daemon
    thread. Threads block only themselves, and async callers wait without
    blocking their loop or holding a worker thread; a thread never waits for
    an event loop it might be a worker thread of. Using a sync client *inside*
    the loop the source lives on raises ``RuntimeError`` instead of
    deadlocking. With a source that can hand out a fresh cached token from
    any thread (``reuse()`` caches, see ``FreshSource``), requests take it
    directly; only a refresh waits for the source's loop. After
    ``os.fork()`` the child starts with no loop: its first refresh starts
    one of its own, and a token cached before the fork is still used.

    Errors of the source (``TokenSourceError`` and its subclasses) reach the
    caller of ``client.get()`` unchanged; so does the ``ConfigError`` for a
    DPoP-bound token whose key is not loaded in this process. The token never appears in
    ``httpx`` logs or in exception messages (``httpx`` masks the
    ``Authorization`` header as ``[secure]`` in ``repr``).

    ``close()`` (or ``with TokenAuth(...) as auth:``) lets go of the
    source's bridge. When the last ``TokenAuth`` of a source closes (or is
    garbage-collected) and the source lives on the private loop, the
    source's ``aclose()`` is awaited on that loop, then the loop stops. A
    source living on your own event loop is never closed by a ``TokenAuth``.

    Expiry in flight: with a source that learns delays (a ``reuse()``
    cache, see ``LearnsDelays``), every answer is reported to it with the
    instants the token was attached and the answer came back, so that the
    cache learns how long requests take to reach the API and keeps new
    tokens that far from their expiry; a 401 for a token that expired on
    the way raises that margin at once (and is resent as any 401; if the
    resent token expires on the way too, that is no sign of an API that
    rejects fresh tokens, and no backoff follows).
    ``reuse(..., learn_margin=False)`` turns this off.

    ``max_in_flight=N`` bounds the async requests that are inside the
    client at once, per event loop: a request beyond that waits its turn
    (first come, first served) before it takes a token and enters the
    connection pool. Set it to the pool's size (``httpx.Limits``'
    ``max_connections``, 100 by default) when a burst of many more
    concurrent requests than connections is expected: httpcore's pool then
    never holds a long queue of waiting requests, which it handles with
    work that grows with the square of the queue and stalls the event loop
    (see the concurrency page). The bound covers the resend after a 401.
    Sync requests are not bounded (each thread waits for itself). Unset
    (the default), it costs nothing.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend (``"asyncio"`` or ``"trio"``) of
            the private loop.
        clock: wall-clock time in epoch seconds, for the backoff after an
            API rejected a fresh token and for the delays reported to the
            source; give it the source's clock. Default ``time.time``.
        max_in_flight: the most async requests in flight at once per event
            loop (an integer >= 1), or None for no bound.

    Raises:
        ConfigError: ``max_in_flight`` is not a positive integer.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        portal_backend: str = "asyncio",
        clock: Clock = time.time,
        max_in_flight: int | None = None,
    ) -> None:
        self._in_flight = None if max_in_flight is None else _InFlight(max_in_flight)
        self._source = source
        self._clock = clock
        # Found once: told about every answer, to learn how long requests take.
        self._learner: LearnsDelays | None = source if isinstance(source, LearnsDelays) else None
        # Found once: lets requests take a fresh cached token without a hop.
        self._fresh: Callable[[], Token | None] = (
            source.fresh if isinstance(source, FreshSource) else _nothing_fresh
        )
        self._rejections = Rejections(clock)
        self._dpop = DPoPRequests()
        self._bridge = acquire_bridge(source, private_backend=portal_backend)
        # The bridge is shared per source; a forgotten TokenAuth still lets go.
        self._release = weakref.finalize(self, release_bridge, source)

    @property
    def source(self) -> TokenSource:
        """The token source this auth draws from."""
        return self._source

    def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The ``httpx.AsyncClient`` flow: authorise, and on a 401 refresh and resend once.

        With ``max_in_flight``, the request first waits for its turn.

        Concurrency and cancellation: safe for any number of concurrent
        requests; they share the source's single flight. Cancelling a
        request while it waits for a token (or its turn) cancels only that
        wait, and a cancelled request gives its turn back.
        """
        if self._in_flight is None:
            return self._async_flow(request)
        return self._in_flight.bounded(self._async_flow(request))

    async def _async_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Decided before sending: a transport may buffer the body while sending it.
        replayable = _replayable(request)
        token = self._fresh()  # the hot path: one clock reading, no await
        if token is None:
            token = await self._bridge.acall(self._source.token)
        bound = None if token.jkt is None else await self._first_bound(request, token)
        try:
            self._attach(request, token, bound)
            learner = self._learner
            attached_at = self._clock() if learner is not None else 0.0
            response = yield request
            if bound is not None and bound.retry(request, response, replayable):
                attached_at = self._clock() if learner is not None else 0.0
                response = yield request
                bound.answered(request, response)
            after = self._judged(
                request, response, token, bound, attached_at, replayable=replayable
            )
            if after is _Next.DONE:
                return
            if after is _Next.INVALIDATE:
                await self._bridge.acall(partial(_invalidate, self._source, token))
                return
            token = await self._bridge.acall(partial(_refresh, self._source, token))
            bound = self._rebound(token, bound)
            self._attach(request, token, bound, resend=True)
            attached_at = self._clock() if learner is not None else 0.0
            response = yield request
            if bound is not None and bound.retry(request, response, replayable):
                attached_at = self._clock() if learner is not None else 0.0
                response = yield request
                bound.answered(request, response)
            self._judged_resend(request, response, token, bound, attached_at)
        finally:
            if bound is not None:
                bound.release(request)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """The ``httpx.Client`` flow: the same as the async flow, run through the bridge.

        Blocks the calling thread (only) while a token is fetched.

        Raises:
            RuntimeError: called on the thread of the event loop the source
                lives on (it would deadlock), or after ``close()``.
        """
        # Decided before sending: a transport may buffer the body while sending it.
        replayable = _replayable(request)
        bridge = self._bridge
        # Refuses misuse (and use after close()) even while the token is
        # fresh, so that it shows at once; moves the source where threads
        # are served before any refresh is needed.
        bridge.for_threads()
        token = self._fresh()
        if token is None:
            token = bridge.call(self._source.token)
        # Threads do not wait for a first contact: each blocks only itself.
        bound = None if token.jkt is None else BoundSend(self._dpop, token)
        self._attach(request, token, bound)
        learner = self._learner
        attached_at = self._clock() if learner is not None else 0.0
        response = yield request
        if bound is not None and bound.retry(request, response, replayable):
            attached_at = self._clock() if learner is not None else 0.0
            response = yield request
            bound.answered(request, response)
        after = self._judged(request, response, token, bound, attached_at, replayable=replayable)
        if after is _Next.DONE:
            return
        if after is _Next.INVALIDATE:
            bridge.call(partial(_invalidate, self._source, token))
            return
        token = bridge.call(partial(_refresh, self._source, token))
        bound = self._rebound(token, bound)
        self._attach(request, token, bound, resend=True)
        attached_at = self._clock() if learner is not None else 0.0
        response = yield request
        if bound is not None and bound.retry(request, response, replayable):
            attached_at = self._clock() if learner is not None else 0.0
            response = yield request
            bound.answered(request, response)
        self._judged_resend(request, response, token, bound, attached_at)

    def _judged(
        self,
        request: httpx.Request,
        response: httpx.Response,
        token: Token,
        bound: BoundSend | None,
        attached_at: float,
        *,
        replayable: bool,
    ) -> _Next:
        """What the answer to the first send calls for: nothing, or a token refresh."""
        challenged = bound is not None and bound.challenged(response)
        learner = self._learner
        if learner is not None:
            self._answered(learner, token, attached_at, response, challenged=challenged)
        if response.status_code != _UNAUTHORIZED:
            if self._rejections.origins:
                self._rejections.answered(origin(str(request.url)), response.status_code)
            return _Next.DONE
        if challenged or self._rejections.backing_off(origin(str(request.url))):
            return _Next.DONE  # a nonce challenge rejects nothing
        # A body that cannot be sent again: the next request gets the fresh token.
        return _Next.REFRESH if replayable else _Next.INVALIDATE

    def _judged_resend(
        self,
        request: httpx.Request,
        response: httpx.Response,
        token: Token,
        bound: BoundSend | None,
        attached_at: float,
    ) -> None:
        """Note the answer to the resend with a fresh token (a 401 starts a backoff)."""
        if bound is not None and bound.challenged(response):
            return  # a nonce challenge says nothing against the API
        learner = self._learner
        # A fresh token that expired on its way says nothing against the API.
        if learner is None or not self._answered(learner, token, attached_at, response):
            self._rejections.answered(origin(str(request.url)), response.status_code)

    def _attach(
        self, request: httpx.Request, token: Token, bound: BoundSend | None, *, resend: bool = False
    ) -> None:
        """Put ``token`` on ``request``, with a fresh DPoP proof when it is bound."""
        if bound is not None:
            bound.attach(request)
            return
        request.headers["Authorization"] = token.authorization
        if resend and "DPoP" in request.headers:
            # The token before was bound; a bearer token never travels with a proof.
            del request.headers["DPoP"]

    async def _first_bound(self, request: httpx.Request, token: Token) -> BoundSend:
        """The DPoP of a request with the bound ``token``, once it may go (a first contact)."""
        bound = BoundSend(self._dpop, token)
        await bound.first_contact(request)
        return bound

    def _rebound(self, token: Token, before: BoundSend | None) -> BoundSend | None:
        """The DPoP of the resend with the fresh ``token``; the nonce retry stays spent."""
        if token.jkt is None:
            return None
        return BoundSend(self._dpop, token, retried=before is not None and before.retried)

    def _answered(
        self,
        learner: LearnsDelays,
        token: Token,
        attached_at: float,
        response: httpx.Response,
        *,
        challenged: bool = False,
    ) -> bool:
        """Tell the source how long the request took; True if ``token`` expired in flight.

        A DPoP nonce challenge (``challenged``) is a 401 that rejects nothing.
        """
        rejected = response.status_code == _UNAUTHORIZED and not challenged
        return learner.request_answered(token, attached_at, self._clock(), rejected=rejected)

    def close(self) -> None:
        """Let go of the source's bridge; the last ``TokenAuth`` of a source stops its private loop.

        Idempotent. If the source lives on the private loop, its
        ``aclose()`` is awaited there first (its connections belong to that
        loop); a source living on your own event loop is never closed here.
        After ``close()`` async requests on the source's own loop keep
        working; sync requests, and refreshes for other loops, raise
        ``RuntimeError``.
        """
        self._release()

    def __repr__(self) -> str:
        return f"TokenAuth({self._source!r})"


class _Next(enum.Enum):
    """What a flow does after the first answer."""

    DONE = "done"
    INVALIDATE = "invalidate"  # a 401 to a body that cannot be sent again
    REFRESH = "refresh"  # a 401: a fresh token, and one resend


class _InFlight:
    """A bound on the requests in flight, one ``anyio.CapacityLimiter`` per event loop.

    A limiter belongs to the event loop it was made on (asyncio's and
    trio's differ), so each loop that sends requests gets its own, kept in
    an ``anyio.lowlevel.RunVar`` and gone with the loop.
    """

    __slots__ = ("_limit", "_limiters")

    def __init__(self, limit: int) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"max_in_flight must be an integer >= 1 or None, got {limit!r}")
        self._limit = limit
        self._limiters: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
            "tokensources.TokenAuth.max_in_flight"
        )

    def here(self) -> anyio.CapacityLimiter:
        """The limiter of the running event loop, made on first use."""
        try:
            return self._limiters.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self._limit)
            self._limiters.set(limiter)
            return limiter

    async def bounded(
        self, flow: AsyncGenerator[httpx.Request, httpx.Response]
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Relay ``flow`` (requests out, responses in) while holding a turn of the limiter.

        The turn is taken before the flow's first step (so before a token
        is taken) and given back when the flow ends, fails, or is closed by
        a cancelled request.
        """
        async with self.here():
            try:
                outgoing = await flow.__anext__()
                while True:
                    response = yield outgoing
                    outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return
            finally:
                await flow.aclose()


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
