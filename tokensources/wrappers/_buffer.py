"""buffer(): refresh tokens some time before they expire."""

from __future__ import annotations

import random
import time

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._source import Clock, TokenSource, aclose_source
from .._token import Token
from ._checks import check_seconds
from ._margin import DelayQuantile

__all__ = ["DEFAULT_BUFFER", "Buffer", "buffer"]

DEFAULT_BUFFER = 300.0
# The most of a short token's life the default buffer takes: a refresh
# needs seconds at most, and a larger share would only fetch tokens sooner.
_DEFAULT_SHARE = 0.25
"""The buffer ``buffer()`` keeps when none is given, in seconds (before the latency rule)."""

# The default buffer leaves room for this many refreshes at the observed 99th percentile latency.
_LATENCY_ROOM = 4.0


def buffer(
    source: TokenSource,
    seconds: float | None = None,
    *,
    jitter: float = 0.1,
    rng: random.Random | None = None,
    clock: Clock = time.time,
) -> Buffer:
    """Mark each token of ``source`` for refresh ``seconds`` before it expires.

    See ``Buffer`` for the rule. Put it inside ``reuse()``, which acts on the
    mark: ``reuse(buffer(retry(source)))``.

    Args:
        source: the token source.
        seconds: how long before expiry to start refreshing, at most; a
            token never spends more than half its lifetime in the buffer.
            By default (None), 300 seconds but at most a quarter of the
            token's lifetime, or four times the 99th percentile of the inner
            source's observed latency if that is longer (decaying with a
            half-life of 30 s), so that a refresh has room to finish before
            expiry however slow the token endpoint has become.
        jitter: a fraction (0 to 1) of the buffer; up to that much more
            is taken off the refresh point at random, so that replicas given
            the same token do not all refresh in the same instant.
        rng: the random source for the jitter (tests pass a seeded one).
        clock: wall-clock time in epoch seconds, to measure lifetimes.

    Raises:
        ConfigError: ``seconds`` is negative or ``jitter`` is outside 0..1.
    """
    return Buffer(source, seconds, jitter=jitter, rng=rng, clock=clock)


class Buffer(AsyncClosing):
    """A token source that sets ``refresh_at`` on the tokens of another.

    For a token arriving at ``now`` that expires at ``expires_at``, with
    ``lifetime = expires_at - now`` and ``b = min(seconds, lifetime / 2)``
    (with the default ``seconds``, ``max(min(300, lifetime / 4), 4 *
    latency)``, ``latency`` being the 99th percentile of the inner calls'
    recent durations)::

        refresh_at = expires_at - b - uniform(0, jitter * b)

    So a day-long token refreshes about ``seconds`` before expiry, a
    one-second token after about half a second (three quarters of a second
    with the default), and the refresh point is
    never later than ``expires_at`` nor (as ``jitter <= 1``) earlier than
    ``now``. If the inner source already set an earlier ``refresh_at``,
    that one is kept. ``expires_at`` is never changed; a token without a
    known expiry passes through untouched. ``invalidate()`` and ``aclose()``
    pass down to the inner source.

    Inside ``reuse()``, the cache also moves the refresh point earlier when
    it has learned that requests take long to reach the API (its learned
    margin): the soft window always ends with room for a refresh at the
    observed latency, whatever ``seconds`` is.

    The arguments are those of ``buffer()``.

    Raises:
        ConfigError: ``seconds`` is negative or ``jitter`` is outside 0..1.
    """

    __slots__ = ("_clock", "_jitter", "_latency", "_rng", "_seconds", "_source")

    def __init__(
        self,
        source: TokenSource,
        seconds: float | None = None,
        *,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._seconds = None if seconds is None else check_seconds("seconds", seconds)
        if check_seconds("jitter", jitter) > 1:
            raise ConfigError(f"jitter must be a fraction between 0 and 1, got {jitter!r}")
        self._source = source
        self._jitter = float(jitter)
        # Jitter only spreads load; it protects nothing, so any PRNG will do.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._clock = clock
        # The inner calls' durations, for the default buffer.
        self._latency = DelayQuantile(clock)

    @property
    def source(self) -> TokenSource:
        """The inner source."""
        return self._source

    @property
    def seconds(self) -> float:
        """The buffer now: ``seconds`` as given, or the default worked out from the latency.

        The default is the most a long-lived token gets: a token living
        under twenty minutes gets a quarter of its lifetime (or the
        latency's room, if longer).
        """
        if self._seconds is not None:
            return self._seconds
        return max(DEFAULT_BUFFER, _LATENCY_ROOM * self._latency.quantile())

    def _buffer_for(self, lifetime: float) -> float:
        if self._seconds is not None:
            return self._seconds
        room = _LATENCY_ROOM * self._latency.quantile()
        return max(min(DEFAULT_BUFFER, lifetime * _DEFAULT_SHARE), room)

    def refresh_point(self, expires_at: float, now: float) -> float:
        """The ``refresh_at`` this wrapper gives a token expiring at ``expires_at``.

        Draws a fresh jitter on each call.
        """
        lifetime = max(expires_at - now, 0.0)
        margin = min(self._buffer_for(lifetime), lifetime / 2)
        jitter = self._rng.uniform(0.0, self._jitter * margin) if margin > 0 else 0.0
        # Rounding can never push the point past expiry.
        return min(expires_at - margin - jitter, expires_at)

    async def token(self) -> Token:
        """Return a token of the inner source with its ``refresh_at`` set.

        Concurrency and cancellation: as safe as the inner source; this
        wrapper keeps no state between calls. Cancellation propagates.

        Raises:
            Exception: whatever the inner source raised.
        """
        started = self._clock()
        token = await self._source.token()
        now = self._clock()
        if self._seconds is None:
            self._latency.observe(now - started)
        if token.expires_at is None:
            return token
        refresh_at = self.refresh_point(token.expires_at, now)
        if token.refresh_at is not None and token.refresh_at <= refresh_at:
            return token
        return token.replace(refresh_at=refresh_at)

    def invalidate(self, token: Token) -> None:
        """Pass the report down to the inner source."""
        self._source.invalidate(token)

    async def aclose(self) -> None:
        """Close the inner source (if it owns resources)."""
        await aclose_source(self._source)

    def __repr__(self) -> str:
        return f"Buffer({self._source!r}, seconds={self.seconds!r}, jitter={self._jitter!r})"
