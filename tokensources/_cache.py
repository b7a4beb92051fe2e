"""The single-flight cache: one value, one fetch at a time, however many callers.

``Cache[T]`` keeps one value of any type and fetches it again when it is
due, so that what it caches (tokens, key sets, metadata) needs no machinery
of its own. A fetch returns an ``Entry``: the value and the two instants
that rule its use::

    arrival ── fresh ──► refresh_at ── soft window ──► usable_until ── spent
      the hot path:        one caller refetches,         callers wait
      one compare          the others get the value      for one fetch

Written once here: the rounds (one fetch shared by every caller that
arrives while it runs), the waiters' hand-off, the take-over when the
fetching caller is cancelled or its event loop is gone, and the backoff
after failed fetches.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

from ._errors import TokenExpiredError
from ._source import Clock

__all__ = ["MAX_FAILURE_BACKOFF", "NEVER", "Cache", "Entry", "Observer", "failure_delay"]

T = TypeVar("T")

NEVER = -math.inf
"""An instant before every clock reading: what is due or spent "since ever"."""

# Failed fetches back off exponentially up to this (or the initial delay, if longer).
MAX_FAILURE_BACKOFF = 30.0
# Jitter for the failure backoff only; nothing here needs unpredictability.
_jitter = random.Random()  # noqa: S311


def failure_delay(initial: float, failures: int, retry_after: float | None = None) -> float:
    """The wait after ``failures`` consecutive failed fetches, in seconds.

    Exponential (``initial * 2 ** (failures - 1)``, capped at
    ``MAX_FAILURE_BACKOFF`` or ``initial`` if larger) with "equal jitter": a
    random point in the upper half, so that the wait is never near zero. A
    server's ``retry_after`` is a floor, under the same cap.
    """
    cap = max(MAX_FAILURE_BACKOFF, initial)
    delay = min(cap, initial * 2.0 ** min(failures - 1, 32))
    delay *= 0.5 + _jitter.random() / 2
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return delay


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """A fetched value and the instants (clock seconds) that rule its use.

    Attributes:
        value: what was fetched (never None).
        refresh_at: from then on the value is due: one caller fetches again
            while the others still get this value. ``math.inf`` for never.
        usable_until: from then on the value is spent: callers wait for a
            fetch. A spent value is due too, whatever ``refresh_at`` says.
    """

    value: T
    refresh_at: float
    usable_until: float


class Observer(Generic[T]):
    """What a cache tells about its work; this base ignores all of it.

    Subclasses log and report events. Their methods must not raise, and must
    return at once: they run inside the cache's decisions.

    Attributes:
        report_hits: whether every hit is to be reported; then no call takes
            the hot path, so ``hit()`` sees them all.
    """

    __slots__ = ()

    report_hits = False

    def label(self, value: T) -> str:
        """How error messages name ``value`` (never the secret it may hold)."""
        return "the value"

    def hit(self, value: T) -> None:
        """A caller got the cached ``value`` off the hot path."""

    def miss(self, value: T | None) -> None:
        """A caller found no usable value (``value`` is the spent one, if any)."""

    def started(self, value: T | None) -> None:
        """A fetch starts; ``value`` is the one cached, if any."""

    def succeeded(self, value: T, now: float) -> None:
        """A fetch brought ``value``, now cached."""

    def failed(
        self, error: Exception, usable: T | None, usable_for: float, retry_in: float
    ) -> None:
        """A fetch failed; ``usable`` is still served for ``usable_for`` seconds, if any."""

    def backed_off(self, error: Exception) -> None:
        """A caller without a usable value got the last ``error``, within the backoff."""


class Round(Generic[T]):
    """The shared outcome of one fetch.

    A round ends exactly once: with a value, with an error, or abandoned
    (the task fetching was cancelled). Waiters block in ``wait()`` and then
    read ``outcome()``. Each round has its own ``anyio.Event``, because
    events cannot be reset, and remembers the event loop it belongs to:
    a caller on another loop must neither wait for it (the event belongs to
    that loop) nor take it for the fetch under way.
    """

    __slots__ = ("_ended", "_error", "_loop", "_traceback", "_value")

    def __init__(self) -> None:
        self._ended = anyio.Event()
        self._loop = _current_loop()
        self._value: T | None = None
        self._error: Exception | None = None
        self._traceback: TracebackType | None = None

    def here(self) -> bool:
        """Whether the round belongs to the running event loop."""
        return _current_loop() is self._loop

    async def wait(self) -> None:
        """Wait for the round to end (on the round's own event loop only)."""
        await self._ended.wait()

    def succeed(self, value: T) -> None:
        """End the round with ``value`` and wake every waiter."""
        self._value = value
        self._end()

    def fail(self, error: Exception) -> None:
        """End the round with ``error`` and wake every waiter."""
        self._error = error
        # Kept apart because every waiter re-raises the same instance, and
        # each raise would otherwise grow the shared ``__traceback__``.
        self._traceback = error.__traceback__
        self._end()

    def abandon(self) -> None:
        """End the round without an outcome; a waiter will start a new one."""
        self._end()

    def outcome(self) -> T | None:
        """The round's value, or None if it was abandoned.

        Raises:
            Exception: the error of the fetch, the same instance for every
                waiter, with the traceback of the failed fetch.
        """
        if self._error is not None:
            raise self._error.with_traceback(self._traceback)
        return self._value

    @property
    def failed(self) -> bool:
        """Whether the round ended with an error."""
        return self._error is not None

    def _end(self) -> None:
        # RuntimeError: the round's event loop is closed (its coroutines are
        # being closed by the garbage collector); its waiters are gone with it.
        with contextlib.suppress(RuntimeError):
            self._ended.set()


def _current_loop() -> object:
    """The running event loop: asyncio's loop object, or the backend's own token."""
    try:
        # Every waiter asks: asyncio's own answer is the cheap one.
        return asyncio.get_running_loop()
    except RuntimeError:
        return anyio.lowlevel.current_token().native_token


class Cache(Generic[T]):
    """A single-flight cache of one value, fetched with ``fetch()``.

    ``get()`` returns the cached value while it is fresh (before
    ``refresh_at``) without lock, I/O or suspension. From ``refresh_at`` on,
    the first caller fetches and the others keep getting the value; from
    ``usable_until`` on (or with nothing cached), callers wait for one
    fetch. Every caller that waits for a fetch gets its value, or its error
    (the same instance for all).

    A failed fetch starts a backoff, exponential with jitter (see
    ``failure_delay``): until it ends no fetch is started; callers get the
    usable value, if there is one, or else the error of the last fetch at
    once. A fetched value that is already spent when it arrives is a failed
    fetch too (``TokenExpiredError``), and one already due starts a backoff
    of ``failure_backoff``. A new value and ``drop()`` end the backoff.

    Cancelling the caller that fetches abandons its fetch; a waiting caller
    then fetches for the others. A fetch left unfinished by an event loop
    that is gone (or is not the caller's) is ignored in the same way, so it
    never blocks a later caller. The cache is used from one event loop at a
    time; ``fresh()`` may be called from any thread.

    Attributes:
        hot_until: the hot path serves ``hot_value`` while the clock reads
            less: ``refresh_at``, or ``NEVER`` when nothing is cached or every
            hit is reported. A wrapper may inline the hot path (read
            ``hot_until`` first, then ``hot_value``) and call ``get_slow()``
            when it fails.
        hot_value: the value the hot path serves (set whenever
            ``hot_until`` is not ``NEVER``).
    """

    hot_value: T

    __slots__ = (
        "_clock",
        "_entry",
        "_error",
        "_failure_backoff",
        "_failures",
        "_fetch",
        "_observer",
        "_retry_at",
        "_round",
        "_traceback",
        "hot_until",
        "hot_value",
    )

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Entry[T]]],
        *,
        clock: Clock,
        failure_backoff: float = 1.0,
        observer: Observer[T] | None = None,
    ) -> None:
        """Build an empty cache; nothing is fetched before the first ``get()``.

        Args:
            fetch: fetches the value; called by one caller at a time.
                Raising ``Exception`` is a failed fetch; cancellation is not.
            clock: the clock of every instant, in seconds.
            failure_backoff: the first wait after a failed fetch, in seconds
                (> 0; checked by the caller).
            observer: told about hits, misses and fetches.
        """
        self._fetch = fetch
        self._clock = clock
        self._failure_backoff = failure_backoff
        self._observer: Observer[T] = observer if observer is not None else Observer()
        self._entry: Entry[T] | None = None
        self.hot_until = NEVER
        self._round: Round[T] | None = None
        self._failures = 0
        self._retry_at = NEVER
        # The last failed fetch, answered to callers without a value during the backoff.
        self._error: Exception | None = None
        self._traceback: TracebackType | None = None

    def peek(self) -> T | None:
        """The cached value as it is (possibly due or spent), or None. Never fetches."""
        entry = self._entry
        return None if entry is None else entry.value

    def usable(self) -> T | None:
        """The cached value if it is not spent yet, else None. Never fetches."""
        entry = self._entry
        if entry is not None and self._clock() < entry.usable_until:
            return entry.value
        return None

    @property
    def fetching(self) -> bool:
        """Whether a fetch is under way (on the running event loop)."""
        return self._live_round() is not None

    def fresh(self) -> T | None:
        """The value the hot path would return right now, or None.

        Safe from any thread: ``hot_value`` is written before ``hot_until``
        and read after it, so a new deadline never pairs with an older value.
        """
        until = self.hot_until
        if self._clock() < until:
            return self.hot_value
        return None

    async def get(self) -> T:
        """The cached value, fetched first if it is spent or missing.

        Concurrency and cancellation: safe for any number of concurrent
        callers; one fetches at a time and the others wait for it (or, in
        the soft window, do without). Cancelling a waiting caller affects
        only that caller; cancelling the one fetching abandons the fetch and
        a waiting caller starts another.

        Raises:
            Exception: the error of the fetch, when no usable value is
                cached; during a backoff, the error of the last fetch.
        """
        if self._clock() < self.hot_until:
            return self.hot_value
        return await self.get_slow()

    async def get_slow(self) -> T:
        """``get()`` past its hot path (see ``hot_until``)."""
        missed = False
        while True:
            now = self._clock()
            entry = self._entry
            if entry is not None and now < entry.usable_until:
                if now < entry.refresh_at or now < self._retry_at or self._live_round():
                    # Fresh again, backing off, or a fetch is under way.
                    self._observer.hit(entry.value)
                    return entry.value
                return await self._run(fallback=True)
            if not missed:
                missed = True
                self._observer.miss(None if entry is None else entry.value)
            round_ = self._live_round()
            if round_ is None:
                error = self._error
                if error is not None and now < self._retry_at:
                    self._observer.backed_off(error)
                    raise error.with_traceback(self._traceback)
                return await self._run(fallback=True)
            await round_.wait()
            if round_.failed:
                usable = self.usable()
                if usable is not None:
                    return usable
            value = round_.outcome()
            if value is not None:
                return value
            # The fetching caller was cancelled: go round, maybe take over.

    async def refresh(self) -> T:
        """Fetch now, single flight, keeping the cached value until the fetch succeeds.

        Joins the fetch under way, or starts one, ignoring the backoff.
        Meanwhile ``get()`` keeps returning the cached value while it is
        usable. Returns the fetched value or raises the fetch's error, never
        the old value.

        Concurrency and cancellation: as ``get()``.

        Raises:
            Exception: the error of the fetch (the same instance for every
                caller that joined it).
        """
        while True:
            round_ = self._live_round()
            if round_ is None:
                return await self._run(fallback=False)
            await round_.wait()
            value = round_.outcome()
            if value is not None:
                return value
            # The fetching caller was cancelled: go round, maybe take over.

    def drop(self, match: Callable[[T], bool]) -> T | None:
        """Drop the cached value if ``match(value)``; return what was dropped, or None.

        Also ends the backoff: the value it kept in use is gone, so the next
        caller fetches at once.
        """
        entry = self._entry
        if entry is None or not match(entry.value):
            return None
        self.hot_until = NEVER
        self._entry = None
        self._retry_at = NEVER
        self._error = self._traceback = None
        return entry.value

    def _live_round(self) -> Round[T] | None:
        """The fetch under way on this event loop, if any; a round of another loop is dropped."""
        round_ = self._round
        if round_ is None or round_.here():
            return round_
        # Its loop ended (or is not ours): nobody here can wait for it.
        self._round = None
        return None

    async def _run(self, *, fallback: bool) -> T:
        """Fetch once, as the one caller fetching for everyone.

        On failure, with ``fallback``, the usable value is returned if there
        is one; otherwise the error is raised.
        """
        round_: Round[T] = Round()
        self._round = round_
        try:
            self._observer.started(self.peek())
            entry = await self._fetch()
            now = self._clock()
            if entry.usable_until <= now:
                raise self._spent(entry, now)
        except Exception as exc:
            self._failed(round_, exc)
            usable = self.usable() if fallback else None
            if usable is not None:
                return usable
            raise
        except BaseException:
            # Cancelled (or interrupted): nothing learned, let a waiter take over.
            self._end(round_)
            round_.abandon()
            raise
        self._succeeded(round_, entry, now)
        return entry.value

    def _spent(self, entry: Entry[T], now: float) -> TokenExpiredError:
        late = now - entry.usable_until
        return TokenExpiredError(
            f"{self._observer.label(entry.value)} arrived already expired ({late:.1f}s late) "
            "and was not used: check the clocks, and that it lives longer than a fetch takes"
        )

    def _end(self, round_: Round[T]) -> None:
        if self._round is round_:
            self._round = None

    def _succeeded(self, round_: Round[T], entry: Entry[T], now: float) -> None:
        self._entry = entry
        # fresh() reads from other threads: the value goes in before its deadline.
        self.hot_value = entry.value
        if not self._observer.report_hits:
            self.hot_until = entry.refresh_at
        self._failures = 0
        self._error = self._traceback = None
        # A value already due when it arrives must not be fetched on every call.
        due = entry.refresh_at <= now
        self._retry_at = now + self._failure_backoff if due else NEVER
        self._end(round_)
        round_.succeed(entry.value)
        self._observer.succeeded(entry.value, now)

    def _failed(self, round_: Round[T], error: Exception) -> None:
        now = self._clock()
        self._failures += 1
        # An error that says when to come back (TokenEndpointError's Retry-After).
        retry_after = getattr(error, "retry_after", None)
        if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
            retry_after = None
        delay = failure_delay(self._failure_backoff, self._failures, retry_after)
        self._retry_at = now + delay
        self._error, self._traceback = error, error.__traceback__
        self._end(round_)
        round_.fail(error)
        entry = self._entry
        if entry is not None and now < entry.usable_until:
            self._observer.failed(error, entry.value, entry.usable_until - now, delay)
        else:
            self._observer.failed(error, None, 0.0, delay)
