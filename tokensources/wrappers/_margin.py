"""The learned margin: how long before expiry a token stops being safe to send.

A token that is valid when a request takes it can be expired when the API
reads it: the request waits in the client's connection pool, in proxies and
in the server's accept queue, and a refresh waits in the same queues. The
margin a cache keeps before ``expires_at`` must cover that delay, and the
delay is not known in advance: it is learned.

``DelayQuantile`` is the estimator, pure and clock-driven: a histogram of
observed delays in logarithmic buckets (about 19 % wide, from a millisecond
to about an hour), each observation weighted by ``2 ** (t / half_life)``
(forward decay), so that an observation ``half_life`` seconds old counts
half as much as a new one and the estimate follows the delays down again
when they fall. Its ``quantile()`` is a high quantile of that decayed
distribution, read from the top of the histogram: robust, in that one
freak observation among a hundred does not move the 99th percentile, and
cheap, in that ``observe()`` is one logarithm and one addition, whatever
the number of observations.

``LearnsDelays`` is what ``TokenAuth`` looks for on its source to report
how long each request took from attaching the token to the answer.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from .._source import Clock
from .._token import Token

__all__ = [
    "DEFAULT_HALF_LIFE",
    "DEFAULT_QUANTILE",
    "MAX_MARGIN_FRACTION",
    "DelayQuantile",
    "LearnsDelays",
]

# The smallest delay told apart (below it, all delays are alike) and the bucket ratio.
_SMALLEST = 0.001
_RATIO = 2.0**0.25
_LOG_RATIO = math.log(_RATIO)
# 1 ms x 1.19 ** 64 is about 65 s; x 1.19 ** 96 about 1.2 hours: longer delays share the top bucket.
_BUCKETS = 96
# Weights grow as 2 ** (t / half_life); rescaled before they could overflow a float.
_RESCALE_AT = 2.0**512

DEFAULT_HALF_LIFE = 30.0
"""Seconds after which an observed delay counts half as much as a new one."""

DEFAULT_QUANTILE = 0.99
"""The share of observed delays the margin covers."""

MAX_MARGIN_FRACTION = 0.5
"""A learned margin never takes more than this fraction of a token's lifetime."""


class DelayQuantile:
    """A decayed high quantile of observed delays (seconds), on an injected clock.

    ``observe(delay)`` records a delay; ``raise_to(delay)`` records one that
    proved too short a margin (an expiry in flight), with enough weight that
    the quantile reaches it at once, and that decays like any other.
    ``quantile()`` is 0.0 before anything was observed.

    Not safe for concurrent use from several threads (each observation is a
    few float operations; a race loses an observation, never corrupts the
    estimate beyond that).

    Args:
        clock: seconds, increasing (``time.time`` or the cache's clock).
        half_life: seconds after which an observation counts half (> 0).
        quantile: the share of the decayed weight the answer covers (0..1).
    """

    __slots__ = (
        "_clock",
        "_epoch",
        "_half_life",
        "_scale_now",
        "_scaled_at",
        "_share_above",
        "_step",
        "_total",
        "_weights",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        half_life: float = DEFAULT_HALF_LIFE,
        quantile: float = DEFAULT_QUANTILE,
    ) -> None:
        self._clock = clock
        self._half_life = float(half_life)
        self._share_above = 1.0 - float(quantile)
        self._weights = [0.0] * _BUCKETS
        self._total = 0.0
        self._epoch: float | None = None
        # The weight of a new observation, recomputed once the clock moved by a
        # step: 1/128 of a half-life changes a weight by half a percent.
        self._step = self._half_life / 128
        self._scaled_at = -math.inf
        self._scale_now = 1.0

    @property
    def observed(self) -> bool:
        """Whether anything was observed yet."""
        return self._total > 0.0

    def observe(self, delay: float) -> None:
        """Record one observed delay, in seconds (negative ones count as zero)."""
        self._add(_bucket(delay), 1.0)

    def raise_to(self, delay: float) -> None:
        """Record a delay that a margin failed to cover: the quantile is at least ``delay`` now.

        The observation gets the weight of a twentieth of everything seen
        so far (and at least one observation's), well above the top 1 %
        the quantile leaves out, so the estimate jumps to it at once; new
        observations then wear it down as they wear down any other.
        """
        index = _bucket(delay)
        scale = self._scale()
        self._add(index, max(1.0, self._total / scale / 20.0))

    def quantile(self) -> float:
        """The delay that the chosen share of decayed observations stayed below, in seconds.

        An upper bucket edge, so it errs on the long side by at most one
        bucket (about 19 %); 0.0 before anything was observed, and for
        delays under a millisecond.
        """
        total = self._total
        if total <= 0.0:
            return 0.0
        allowed = total * self._share_above
        above = 0.0
        for index in range(_BUCKETS - 1, -1, -1):
            above += self._weights[index]
            if above > allowed:
                return _upper_edge(index)
        return _upper_edge(0)

    def _scale(self) -> float:
        """The weight of an observation made now (relative to the epoch)."""
        now = self._clock()
        if abs(now - self._scaled_at) < self._step:
            return self._scale_now
        if self._epoch is None:
            self._epoch = now
        exponent = (now - self._epoch) / self._half_life
        if exponent > 500:  # 2 ** 512 would soon overflow: move the epoch to now
            self._rescale(now)
            exponent = 0.0
        self._scaled_at = now
        self._scale_now = float(2.0 ** max(exponent, -500.0))
        return self._scale_now

    def _add(self, index: int, weight: float) -> None:
        added = weight * self._scale()
        self._weights[index] += added
        self._total += added

    def _rescale(self, now: float) -> None:
        assert self._epoch is not None  # noqa: S101 - set by _scale before
        factor = 2.0 ** (-(now - self._epoch) / self._half_life)
        self._weights = [weight * factor for weight in self._weights]
        self._total = sum(self._weights)
        self._epoch = now

    def __repr__(self) -> str:
        return f"DelayQuantile(quantile={self.quantile():.3f}s)"


def _bucket(delay: float) -> int:
    if not delay > _SMALLEST:  # also NaN
        return 0
    return min(_BUCKETS - 1, math.ceil(math.log(delay / _SMALLEST) / _LOG_RATIO))


def _upper_edge(index: int) -> float:
    # The first bucket holds the delays too short to matter.
    return 0.0 if index == 0 else float(_SMALLEST * _RATIO**index)


@runtime_checkable
class LearnsDelays(Protocol):
    """A source that learns, from its users, how long a token takes to reach the API.

    ``reuse()`` caches are such sources (unless built with
    ``learn_margin=False``). ``TokenAuth`` looks for this protocol once, when
    it is built, and then reports every answer to it.
    """

    def request_answered(
        self, token: Token, attached_at: float, answered_at: float, *, rejected: bool
    ) -> bool:
        """Report that a request carrying ``token`` was answered; True for an expiry in flight.

        Args:
            token: the token the request carried.
            attached_at: when the token was put on the request (the source's clock).
            answered_at: when the answer came back (the same clock).
            rejected: whether the answer was a 401.

        Returns:
            Whether the answer was a 401 for a token that expired on its way
            (then it says nothing against the token or the API).

        It must return at once and never raise: it runs on every request.
        """
        ...
