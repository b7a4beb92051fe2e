"""TokenAuth: an ``httpx.Auth`` that puts a source's token on every request."""

from __future__ import annotations

import enum
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from functools import partial
from typing import Literal

import httpx

from ._admission import Automatic, Fixed, Gate, Watch
from ._bridge import acquire_bridge, release_bridge
from ._closing import Closing
from ._dpop_auth import BoundSend, DPoPRequests
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
    or counting a rejection: it is no rejection, and neither is
    ``error="invalid_dpop_proof"``. The first request to an origin goes
    first while others of the same loop wait for its answer (a second at
    most), so that a burst learns the origin's nonce once. A bearer token
    never carries a proof.

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
    instants the token was attached and the answer came back (except the
    answer of a request that queued under an admission bound since cut,
    below: requests let in from then on will not wait as long), so that the
    cache learns how long requests take to reach the API and keeps new
    tokens that far from their expiry; a 401 for a token that expired on
    the way raises that margin at once (and is resent as any 401; if the
    resent token expires on the way too, that is no sign of an API that
    rejects fresh tokens, and no backoff follows).
    ``reuse(..., learn_margin=False)`` turns this off.

    Admission: a request that takes its token and then waits in the
    connection pool (or in a saturated server's queue) spends the token's
    life waiting. By default (``max_in_flight="auto"``) ``TokenAuth``
    watches how long async requests queue after the token was attached:
    their wait for the wire (httpx's ``trace`` request extension, chained
    with yours) and their attach-to-answer delay beyond the shortest one
    of late. While that stays far below a tenth of the token's lifetime
    there is no bound at all; once it exceeds that, or a token expires on
    its way, the requests inside the client are bounded per event loop
    (cut from the number in flight, then tuned to keep a few requests
    queueing, gone when nobody waits), and a request beyond the bound
    waits its turn (first come, first served) *before* it takes a token,
    so it takes the freshest one when let in. The API's own time to answer
    does not count: an API that is slow to answer is not bounded. With
    tokens living under ten seconds, a new event loop starts with a bound
    of 4 that doubles while waits stay short (slow start), so that a
    storm does not take one short-lived token all at once. The bound
    covers the resend after a 401. One request in 16 is watched while all
    is calm (every request while a bound is set); a token of unknown
    expiry is never watched. ``max_in_flight`` (the property) is the bound
    of the running event loop right now.

    ``max_in_flight=N`` is a fixed bound instead: at most N async requests
    inside the client at once, per event loop. Set it to the pool's size
    (``httpx.Limits``' ``max_connections``, 100 by default) when a burst of
    many more concurrent requests than connections is expected: httpcore's
    pool then never holds a long queue of waiting requests, which it
    handles with work that grows with the square of the queue and stalls
    the event loop (see the concurrency page). ``max_in_flight=None``
    turns admission off: no bound, nothing watched. Sync requests are
    never bounded (each thread waits for itself).

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend (``"asyncio"`` or ``"trio"``) of
            the private loop.
        clock: wall-clock time in epoch seconds, for the backoff after an
            API rejected a fresh token, for the delays reported to the
            source and for the automatic bound; give it the source's clock.
            Default ``time.time``.
        max_in_flight: ``"auto"`` (the default) for the automatic bound, an
            integer >= 1 for a fixed bound on async requests in flight per
            event loop, or None for no bound.

    Raises:
        ConfigError: ``max_in_flight`` is not ``"auto"``, None or a
            positive integer.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        portal_backend: str = "asyncio",
        clock: Clock = time.time,
        max_in_flight: int | Literal["auto"] | None = "auto",
    ) -> None:
        self._fixed: Fixed | None = None
        self._automatic: Automatic | None = None
        if max_in_flight == "auto":
            self._automatic = Automatic()
        elif max_in_flight is not None:
            self._fixed = Fixed(max_in_flight)  # checked there
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

    @property
    def max_in_flight(self) -> int | None:
        """The bound on async requests in flight of the running event loop now, or None.

        The fixed ``max_in_flight=N``; with ``"auto"``, the automatic
        bound as it stands on this event loop (None while unbounded, and
        outside an event loop); None with ``max_in_flight=None``.
        """
        if self._fixed is not None:
            return self._fixed.limit
        if self._automatic is None:
            return None
        return self._automatic.limit_here()

    def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The ``httpx.AsyncClient`` flow: authorise, and on a 401 refresh and resend once.

        While a bound is set (``max_in_flight``), the request first waits
        for its turn.

        Concurrency and cancellation: safe for any number of concurrent
        requests; they share the source's single flight. Cancelling a
        request while it waits for a token (or its turn) cancels only that
        wait, and a cancelled request gives its turn back.
        """
        if self._fixed is not None:
            return self._fixed.bounded(self._async_flow(request, None))
        return self._async_flow(request, self._automatic)

    async def _async_flow(
        self, request: httpx.Request, automatic: Automatic | None
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        gate = None if automatic is None else automatic.here()
        if gate is not None and not gate.admit():
            await gate.wait_turn()  # before the token is taken: the wait does not age it
        # Decided before sending: a transport may buffer the body while sending it.
        replayable = _replayable(request)
        bound = None
        try:
            token = self._fresh()  # the hot path: one clock reading, no await
            if token is None:
                token = await self._bridge.acall(self._source.token)
            bound = None if token.jkt is None else await self._first_bound(request, token)
            self._attach(request, token, bound)
            timed = self._learner is not None or gate is not None
            attached_at = self._clock() if timed else 0.0
            watch = None if gate is None else self._watched(gate, request, token, attached_at)
            response = yield request
            if watch is not None:
                watch.done(request)
            if bound is not None and bound.retry(request, response, replayable):
                attached_at = self._clock() if timed else 0.0
                response = yield request
                bound.answered(request, response)
            after = self._judged(
                request, response, token, bound, attached_at, gate=gate, replayable=replayable
            )
            if after is _Next.DONE:
                return
            if after is _Next.INVALIDATE:
                await self._bridge.acall(partial(_invalidate, self._source, token))
                return
            token = await self._bridge.acall(partial(_refresh, self._source, token))
            bound = self._rebound(token, bound)
            self._attach(request, token, bound, resend=True)
            attached_at = self._clock() if timed else 0.0
            response = yield request
            if bound is not None and bound.retry(request, response, replayable):
                attached_at = self._clock() if timed else 0.0
                response = yield request
                bound.answered(request, response)
            self._judged_resend(request, response, token, bound, attached_at, gate=gate)
        finally:
            if bound is not None:
                bound.release(request)
            if gate is not None:
                gate.leave()

    def _watched(
        self, gate: Gate, request: httpx.Request, token: Token, attached_at: float
    ) -> Watch | None:
        """The watch on ``request``'s way to the wire, if the gate wants this one watched."""
        watch = gate.watch(token, attached_at)
        if watch is not None:
            watch.install(request, self._clock)
        return watch

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
        after = self._judged(
            request, response, token, bound, attached_at, gate=None, replayable=replayable
        )
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
        self._judged_resend(request, response, token, bound, attached_at, gate=None)

    def _judged(
        self,
        request: httpx.Request,
        response: httpx.Response,
        token: Token,
        bound: BoundSend | None,
        attached_at: float,
        *,
        gate: Gate | None,
        replayable: bool,
    ) -> _Next:
        """What the answer to the first send calls for: nothing, or a token refresh.

        An expiry in flight tells the ``gate`` (if any) that requests wait too long.
        The delay of a request that queued under a bound since cut is not
        reported to the source: requests let in from now on will not wait
        that long, and the margin of new tokens is for them.
        """
        proof_refused = bound is not None and bound.refuses_proof(response)
        learner = self._learner
        rejected = response.status_code == _UNAUTHORIZED
        if learner is not None and (rejected or gate is None or gate.current(attached_at)):
            late = self._answered(
                learner, token, attached_at, response, proof_refused=proof_refused
            )
            if late and gate is not None:
                now = self._clock()
                gate.congested(now - attached_at, attached_at, now)
        if response.status_code != _UNAUTHORIZED:
            if self._rejections.origins:
                self._rejections.answered(origin(str(request.url)), response.status_code)
            return _Next.DONE
        if proof_refused or self._rejections.backing_off(origin(str(request.url))):
            return _Next.DONE  # a refused DPoP proof rejects nothing
        # A body that cannot be sent again: the next request gets the fresh token.
        return _Next.REFRESH if replayable else _Next.INVALIDATE

    def _judged_resend(
        self,
        request: httpx.Request,
        response: httpx.Response,
        token: Token,
        bound: BoundSend | None,
        attached_at: float,
        *,
        gate: Gate | None,
    ) -> None:
        """Note the answer to the resend with a fresh token (a 401 starts a backoff)."""
        if bound is not None and bound.refuses_proof(response):
            return  # a refused DPoP proof says nothing against the API
        learner = self._learner
        # A fresh token that expired on its way says nothing against the API.
        if learner is None or not self._answered(learner, token, attached_at, response):
            self._rejections.answered(origin(str(request.url)), response.status_code)
        elif gate is not None:
            now = self._clock()
            gate.congested(now - attached_at, attached_at, now)

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
        proof_refused: bool = False,
    ) -> bool:
        """Tell the source how long the request took; True if ``token`` expired in flight.

        A refused DPoP proof (``proof_refused``) is a 401 that rejects nothing.
        """
        rejected = response.status_code == _UNAUTHORIZED and not proof_refused
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
