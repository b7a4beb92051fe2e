"""retry(): try a token request again after a transient failure."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio

from .._closing import AsyncClosing
from .._errors import ConfigError, TokenSourceError
from .._log import logger
from .._source import Clock, TokenSource, aclose_source
from .._token import Token
from ._checks import check_seconds

__all__ = ["FailureObserver", "Retry", "retry"]

Sleep = Callable[[float], Awaitable[object]]
"""An async sleep taking seconds, like ``anyio.sleep``."""

FailureObserver = Callable[[TokenSourceError], None]
"""Receives the error of a failed attempt of a ``Retry`` (see ``Retry.observe``)."""

# 2**64 times any sane base delay is far past every cap; stops float overflow.
_MAX_EXPONENT = 64


def retry(
    source: TokenSource,
    *,
    attempts: int = 4,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    max_retry_after: float = 60.0,
    deadline: float | None = None,
    rng: random.Random | None = None,
    sleep: Sleep = anyio.sleep,
    clock: Clock = time.monotonic,
) -> Retry:
    """Retry the transient failures of ``source``.

    See ``Retry`` for the rules.

    Args:
        source: the token source.
        attempts: how many times to call the inner source at most, the
            first call included (``1`` turns retrying off).
        base_delay: the backoff before the first retry, at most; it doubles
            for each further retry.
        max_delay: the cap on the exponential backoff.
        max_retry_after: the cap on a server's ``Retry-After``.
        deadline: if set, seconds from the first call after which no retry
            is started: when the next wait would end past it, the last error
            is raised at once.
        rng: the random source for the jitter (tests pass a seeded one).
        sleep: the async sleep used between attempts (tests pass one that
            advances a fake clock).
        clock: a monotonic clock in seconds, for the deadline.

    Raises:
        ConfigError: a setting is out of range.
    """
    return Retry(
        source,
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        max_retry_after=max_retry_after,
        deadline=deadline,
        rng=rng,
        sleep=sleep,
        clock=clock,
    )


class Retry(AsyncClosing):
    """A token source that calls another again after a transient failure.

    Which errors are retried is decided by the error itself: a
    ``TokenSourceError`` whose ``transient`` is true — transport errors and
    timeouts (``TokenRequestError``) and endpoint answers 408, 425, 429 and
    5xx, unless they carry a definitive OAuth error such as
    ``invalid_client``, ``invalid_grant``, ``unauthorized_client``,
    ``invalid_scope`` or ``invalid_request`` (RFC 6749 §5.2). Anything
    else, including every exception that is not a ``TokenSourceError``,
    is raised at once.

    Before retry ``n`` (1, 2, ...) it waits, with "full jitter"::

        wait = uniform(0, min(max_delay, base_delay * 2 ** (n - 1)))

    and, when the error carries a ``Retry-After`` (``retry_after``, in
    seconds, already converted from an HTTP date by the source), at least
    ``min(retry_after, max_retry_after)``. When the attempts are used up,
    or the wait would end past ``deadline``, the last error itself is
    raised (not wrapped).

    Each failed attempt is first reported to the observers attached with
    ``observe()``, so that a layer above hears of a ``Retry-After`` before
    this ``Retry`` starts waiting it out (``RedisShared`` tells its whole
    fleet that way).

    ``invalidate()`` and ``aclose()`` pass down to the inner source.

    The arguments are those of ``retry()``.

    Raises:
        ConfigError: a setting is out of range.
    """

    __slots__ = (
        "_attempts",
        "_base_delay",
        "_clock",
        "_deadline",
        "_max_delay",
        "_max_retry_after",
        "_observers",
        "_observers_lock",
        "_rng",
        "_sleep",
        "_source",
    )

    def __init__(
        self,
        source: TokenSource,
        *,
        attempts: int = 4,
        base_delay: float = 0.1,
        max_delay: float = 10.0,
        max_retry_after: float = 60.0,
        deadline: float | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise ConfigError(f"attempts must be an integer >= 1, got {attempts!r}")
        self._source = source
        self._attempts = attempts
        self._base_delay = check_seconds("base_delay", base_delay)
        self._max_delay = check_seconds("max_delay", max_delay)
        self._max_retry_after = check_seconds("max_retry_after", max_retry_after)
        self._deadline = (
            None if deadline is None else check_seconds("deadline", deadline, positive=True)
        )
        # Jitter only spreads load; it protects nothing, so any PRNG will do.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._sleep = sleep
        self._clock = clock
        # Replaced, never mutated: an attempt reads the tuple once, lock-free.
        self._observers: tuple[FailureObserver, ...] = ()
        self._observers_lock = threading.Lock()

    @property
    def source(self) -> TokenSource:
        """The inner source."""
        return self._source

    @contextmanager
    def observe(self, observer: FailureObserver) -> Iterator[None]:
        """Report each failed attempt to ``observer`` while the ``with`` block runs.

        For a layer above that must hear of a failure at once, not only
        once every retry is spent: ``RedisShared`` finds the ``Retry`` in
        the source it is given and observes it while it refreshes, so that
        a ``Retry-After`` becomes a fleet-wide cooldown while this ``Retry``
        is still waiting it out.

        ``observer`` is called with the error of every failed attempt, the
        last one included, before the wait that follows it (or before it is
        raised): synchronously, in the task that made the attempt. An
        observer that raises is logged and ignored. While attached it hears
        of the attempts of every caller of this ``Retry``; several observers
        may be attached at once, and each hears of every attempt. Attaching
        and detaching are safe from any thread. ``observer`` is detached when
        the ``with`` block exits, however it exits::

            with retrying.observe(failures.append):
                token = await outer.token()  # outer wraps retrying

        Args:
            observer: called with each failed attempt's error.
        """
        with self._observers_lock:
            self._observers = (*self._observers, observer)
        try:
            yield
        finally:
            with self._observers_lock:
                observers = list(self._observers)
                index = next(i for i, each in enumerate(observers) if each is observer)
                del observers[index]
                self._observers = tuple(observers)

    async def token(self) -> Token:
        """Return a token from the inner source, retrying transient failures.

        Concurrency and cancellation: each call retries on its own; put
        ``reuse()`` outside so that concurrent callers share one retrying
        call. Cancellation propagates at once, whether it arrives during a
        call to the inner source or during a wait; no further attempt is
        made.

        Raises:
            Exception: the last error of the inner source, unchanged.
        """
        started = self._clock()
        attempt = 1
        while True:
            try:
                return await self._source.token()
            except TokenSourceError as exc:
                self._report(exc)
                delay = self._delay(exc, attempt, started)
                if delay is None:
                    raise
                # DEBUG: a retried failure is not an outcome; the last one, if
                # the retries run out, reaches the caller (or the cache's log).
                logger.debug(
                    "token request failed (%s: %s); attempt %d of %d, next in %.2fs",
                    type(exc).__name__,
                    exc,
                    attempt,
                    self._attempts,
                    delay,
                )
            # Outside the except block: the next error must not chain this one.
            await self._sleep(delay)
            attempt += 1

    def _delay(self, error: TokenSourceError, attempt: int, started: float) -> float | None:
        """The wait before the next attempt, or None when ``error`` is final."""
        if not error.transient or attempt >= self._attempts:
            return None
        ceiling = min(self._max_delay, self._base_delay * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
        delay = self._rng.uniform(0.0, ceiling)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            # RFC 9110 §10.2.3: the server says when to come back; we cap it.
            delay = max(delay, min(float(retry_after), self._max_retry_after))
        if self._deadline is not None and self._clock() + delay - started > self._deadline:
            return None
        return delay

    def _report(self, error: TokenSourceError) -> None:
        """Tell every attached observer about a failed attempt."""
        for observer in self._observers:
            _notify(observer, error)

    def invalidate(self, token: Token) -> None:
        """Pass the report down to the inner source."""
        self._source.invalidate(token)

    async def aclose(self) -> None:
        """Close the inner source (if it owns resources)."""
        await aclose_source(self._source)

    def __repr__(self) -> str:
        return f"Retry({self._source!r}, attempts={self._attempts!r})"


def _notify(observer: FailureObserver, error: TokenSourceError) -> None:
    """Call ``observer``; one that raises must not stop the retrying."""
    try:
        observer(error)
    except Exception:
        logger.exception("retry failure observer raised; ignored")
