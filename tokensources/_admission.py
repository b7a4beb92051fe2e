"""Admission: how many async requests ``TokenAuth`` lets into the client at once.

A request that takes a token and then waits in the connection pool (or
in a saturated server's queue) spends the token's life waiting: wait
longer than the token lives and it arrives expired. Waiting *before* the
token is taken costs the token nothing, and a request let in late takes
the freshest token. Two bounds make requests wait there:

- ``Fixed``, ``max_in_flight=N``: at most N requests in flight per event
  loop, always;
- ``Automatic``, the default: no bound while requests queue for a small
  share of their token's lifetime, and a bound that adapts while they do
  not, as TCP adapts its congestion window.

The signal is the time a request spends queueing after its token was
attached: the larger of its wait for the wire (httpx's ``trace`` request
extension reports ``send_request_headers.started`` once the pool gave it
a connection) and its attach-to-answer delay beyond the shortest one of
the last 30 s (which is the API's own time to answer and the round trip,
however long). So an API that is merely slow to answer is never bounded,
while a server that answers slower the more requests it is sent is. A
401 for a token that expired on its way (see ``LearnsDelays``) counts as
too long a wait as well.

The budget is a tenth of the token's lifetime, as seen when this client
first attached it:

- a wait above the budget cuts the bound (from the requests in flight when
  none was set) to between a tenth and a half, by budget / wait, once per
  round: a request attached before the last cut queued under the wider
  bound, and cuts again only if it waited at least twice as long as the
  request that caused that cut;
- below a quarter of the budget, a set bound is tuned as TCP Vegas tunes
  its window: it keeps two to four requests queueing (``bound * wait /
  delay``), widening by about one request per round when fewer queue and
  narrowing when more do; a bound that nobody waits for and that is more
  than twice the requests in flight goes away;
- a new event loop starts with a bound of 4 that doubles per round of
  short waits until a few requests queue (slow start, as TCP Vegas's), for
  tokens that live under ten seconds only:
  a storm of requests all taking the same brand-new short-lived token
  would otherwise be let in before anything was measured. The bound goes
  as soon as a longer-lived token (or one of unknown expiry) is seen.

Cost while unbounded: one lookup of the loop's state and a few integer
updates per request; one request in 16 is watched (its ``trace`` is
chained), every request while a bound is set or a wait came close to the
budget. A token of unknown expiry has no budget and is never watched
unless a bound is already set.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx

from ._errors import ConfigError
from ._source import Clock
from ._token import Token

__all__ = ["WAIT_BUDGET_FRACTION", "Automatic", "Fixed", "Gate", "Watch"]

WAIT_BUDGET_FRACTION = 0.1
"""A request may wait this fraction of its token's lifetime before reaching the wire."""

# A watched delay above this share of the budget keeps every request watched.
_WATCH_SHARE = 0.25
# A bound is tuned only while waits stay below this share of the budget: it then keeps
# between this few and this many requests queueing (as TCP Vegas keeps its window).
_GOOD_SHARE = 0.25
_QUEUED_FEW = 2.0
_QUEUED_MANY = 4.0
# The bound after a cut, as a share of the bound (or of the requests in flight) before it:
# at most this, and at least the deepest cut, budget / wait in between.
_CUT = 0.5
_DEEPEST_CUT = 0.1
# Unbounded and calm, one request in this many is watched (a power of two).
_SAMPLE_EVERY = 16
# A new event loop's bound, doubled per round of short waits until requests queue (slow
# start, as TCP Vegas's). Small: every connection a storm opens stays in httpcore's pool,
# and each later request walks the pool's connections (at 32 it served half as many).
# Only for tokens whose budget is under a second (that live under ten seconds): a
# longer-lived token survives a storm until its first answers come back, so the bound is
# dropped as soon as such a token is seen.
_INITIAL = 4.0
_SLOW_START_BELOW = 1.0
# Seconds the shortest attach-to-answer delay is remembered (as BBR keeps its min RTT).
_BASE_WINDOW = 30.0

TraceCallback = Callable[[str, dict[str, Any]], Any]


class Gate:
    """The admission state of one event loop: requests inside, the bound, the waiters.

    Requests are let in first come, first served. ``limit`` is None while
    unbounded. Only the loop it belongs to touches it (no lock needed).
    """

    __slots__ = (
        "_base",
        "_base_at",
        "_budget",
        "_counted",
        "_cut_at",
        "_cut_wait",
        "_expires_at",
        "_starting",
        "_waiters",
        "_watching",
        "_window",
        "inside",
    )

    def __init__(self) -> None:
        self.inside = 0
        # Slow start (as TCP's): nothing is known of the queues yet.
        self._window: float | None = _INITIAL
        self._starting = True
        self._waiters: deque[anyio.Event] = deque()
        self._cut_at = -float("inf")
        self._cut_wait = 0.0
        self._watching = False
        self._counted = 0
        # The budget of the token last seen (a tenth of its lifetime) and its expiry.
        self._expires_at: float | None = None
        self._budget = float("inf")
        self._base = float("inf")
        self._base_at = -float("inf")

    @property
    def limit(self) -> int | None:
        """The bound on requests inside, or None while unbounded."""
        return None if self._window is None else int(self._window)

    def current(self, attached_at: float) -> bool:
        """Whether a request attached at ``attached_at`` was let in under the bound as it is."""
        return attached_at >= self._cut_at

    def admit(self) -> bool:
        """Let a request in at once if the bound allows it (True), counting it inside."""
        if self._window is None or (not self._waiters and self.inside < int(self._window)):
            self.inside += 1
            return True
        return False

    async def wait_turn(self) -> None:
        """Wait until the bound lets this request in; it is then counted inside.

        Cancellation: a cancelled waiter leaves the queue; one cancelled
        just after it was let in gives its turn to the next waiter.
        """
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                self.leave()  # let in, then cancelled: the turn goes on
            else:
                self._waiters.remove(turn)
            raise

    def leave(self) -> None:
        """A request let in has ended: let the next waiters in while the bound allows."""
        self.inside -= 1
        self._let_in()

    def watch(self, token: Token, attached_at: float) -> Watch | None:
        """A ``Watch`` for a request that carries ``token`` from ``attached_at``, or None.

        Every request is watched while a bound is set or a recent delay
        came close to the budget; otherwise one in ``_SAMPLE_EVERY``.
        """
        expires_at = token.expires_at
        if expires_at is not None and expires_at != self._expires_at:
            # A new token: its lifetime, as seen at this client's first use, sets the budget.
            self._expires_at = expires_at
            self._budget = WAIT_BUDGET_FRACTION * max(expires_at - attached_at, 0.0)
        elif expires_at is None:
            if self._window is None:
                return None  # no lifetime, no budget: nothing to protect
            self._budget = float("inf")
        if self._starting and self._budget >= _SLOW_START_BELOW:
            self._end_slow_start()
        if self._window is None and not self._watching:
            self._counted += 1
            if self._counted % _SAMPLE_EVERY:
                return None
        return Watch(self, attached_at, self._budget)

    def answered(
        self, wait: float, delay: float, attached_at: float, budget: float, now: float
    ) -> None:
        """A watched request, attached at ``attached_at``, was answered after ``delay`` seconds.

        ``wait`` is the part of it spent queueing. Above the ``budget``,
        the bound is cut. Well below it, a set bound is tuned as TCP Vegas
        tunes its window: the requests the bound keeps queueing
        (``bound * wait / delay``) are held between two and four, where
        the API is kept busy without a queue that costs the tokens
        anything; fewer widen the bound (or drop it, if nobody waits),
        more narrow it by about one request per round. The first answer
        that finds two or more queueing ends slow start.
        """
        self._watching = wait > budget * _WATCH_SHARE
        if wait > budget:
            self.congested(wait, attached_at, now)
            return
        window = self._window
        if window is None or wait > budget * _GOOD_SHARE:
            return
        queued = window * wait / delay if delay > 0.0 else 0.0
        if queued < _QUEUED_FEW:
            self.calm()
            return
        self._starting = False  # requests queue: slow start is over (as in TCP Vegas)
        if queued > _QUEUED_MANY:
            self._window = max(1.0, window - 1.0 / window)

    def base_delay(self, delay: float, now: float) -> float:
        """The shortest attach-to-answer delay of late (a windowed minimum), given a new one.

        What an answer takes without queueing: the API's own time, the
        round trip. A delay above it is time spent in a queue somewhere
        (the client's pool, the server's accept queue or event loop).
        """
        if delay < self._base or now - self._base_at > _BASE_WINDOW:
            self._base = delay
            self._base_at = now
        return self._base

    def congested(self, wait: float, attached_at: float, now: float) -> None:
        """A request attached at ``attached_at`` queued ``wait`` seconds: too long; cut the bound.

        The cut is deeper the further the wait went past the budget (the
        bound times budget / wait, between a tenth and a half), and made
        once per round: a request attached before the last cut queued
        under the wider bound, and cuts again only if it waited at least
        twice as long as the request that caused that cut (the queue is
        worse than that cut allowed for).
        """
        self._watching = True
        if attached_at < self._cut_at and wait < 2.0 * self._cut_wait:
            return
        self._cut_at = now
        self._cut_wait = wait
        self._starting = False
        before = self.inside if self._window is None else min(self._window, self.inside)
        share = min(_CUT, max(_DEEPEST_CUT, self._budget / wait if wait > 0.0 else _CUT))
        self._window = max(1.0, float(int(before * share)))

    def calm(self) -> None:
        """A watched request queued little: widen the bound, or drop one nobody needs."""
        window = self._window
        if window is None:
            return
        if not self._waiters and self.inside * 2 < window:
            self._window = None
            self._starting = False
            return
        # Slow start doubles the bound per round; then one more request per round.
        self._window = window + (1.0 if self._starting else 1.0 / window)
        self._let_in()

    def _end_slow_start(self) -> None:
        """The token lives long enough for a storm to be answered in time: no bound."""
        self._starting = False
        self._window = None
        self._let_in()

    def _let_in(self) -> None:
        waiters = self._waiters
        while waiters and (self._window is None or self.inside < int(self._window)):
            self.inside += 1
            waiters.popleft().set()

    def __repr__(self) -> str:
        return f"Gate(inside={self.inside}, limit={self.limit}, waiting={len(self._waiters)})"


class Watch:
    """The ``trace`` extension of one watched request: when it reached the wire, and its answer.

    Chains the ``trace`` callback the request already had. The request's
    queueing is the larger of its wait for the wire and its
    attach-to-answer delay beyond the shortest one of late (which is the
    API's own time to answer, whatever it is); a wait for the wire beyond
    the budget cuts the bound at once, before the answer.
    """

    __slots__ = ("_budget", "_clock", "_gate", "_on_wire", "attached_at", "prior")

    def __init__(self, gate: Gate, attached_at: float, budget: float) -> None:
        self._gate = gate
        self._budget = budget
        self._clock: Clock | None = None
        self._on_wire: float | None = None
        self.attached_at = attached_at
        self.prior: TraceCallback | None = None

    def install(self, request: httpx.Request, clock: Clock) -> None:
        """Become ``request``'s ``trace`` extension, chaining the one it had."""
        self._clock = clock
        self.prior = request.extensions.get("trace")
        request.extensions["trace"] = self

    def done(self, request: httpx.Request) -> None:
        """The answer came: give ``request`` its own ``trace`` back, and tell the gate the wait."""
        if self.prior is None:
            request.extensions.pop("trace", None)
        else:
            request.extensions["trace"] = self.prior
        assert self._clock is not None  # noqa: S101 - set by install()
        now = self._clock()
        delay = now - self.attached_at
        gate = self._gate
        wait = delay - gate.base_delay(delay, now)
        if self._on_wire is not None:
            wait = max(wait, self._on_wire - self.attached_at)
        gate.answered(wait, delay, self.attached_at, self._budget, now)

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        if self._on_wire is None and name.endswith("send_request_headers.started"):
            assert self._clock is not None  # noqa: S101 - set by install()
            now = self._on_wire = self._clock()
            if now - self.attached_at > self._budget:
                self._gate.congested(now - self.attached_at, self.attached_at, now)
        prior = self.prior
        if prior is not None:
            await prior(name, info)


class Automatic:
    """The automatic bound of one ``TokenAuth``: a ``Gate`` per event loop."""

    __slots__ = ("_gates",)

    def __init__(self) -> None:
        self._gates: anyio.lowlevel.RunVar[Gate] = anyio.lowlevel.RunVar(
            "tokensources.TokenAuth.admission"
        )

    def here(self) -> Gate:
        """The gate of the running event loop, made on first use."""
        try:
            return self._gates.get()
        except LookupError:
            gate = Gate()
            self._gates.set(gate)
            return gate

    def limit_here(self) -> int | None:
        """The bound of the running event loop's gate; None unbounded or outside a loop."""
        try:
            return self._gates.get().limit
        except (LookupError, RuntimeError):
            return None


class Fixed:
    """A fixed bound on the requests in flight, one ``anyio.CapacityLimiter`` per event loop.

    A limiter belongs to the event loop it was made on (asyncio's and
    trio's differ), so each loop that sends requests gets its own, kept in
    an ``anyio.lowlevel.RunVar`` and gone with the loop.
    """

    __slots__ = ("_limit", "_limiters")

    def __init__(self, limit: int) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(
                f'max_in_flight must be an integer >= 1, "auto" or None, got {limit!r}'
            )
        self._limit = limit
        self._limiters: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
            "tokensources.TokenAuth.max_in_flight"
        )

    @property
    def limit(self) -> int:
        """The bound."""
        return self._limit

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
