"""The rules of reuse(): its settings, when a token is due or spent, failure backoff."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import NamedTuple

from .._source import Clock, EventHook
from .._token import Token
from ._checks import check_seconds

__all__ = [
    "MAX_FAILURE_BACKOFF",
    "SKEW_FRACTION",
    "Settings",
    "TokenCallback",
    "deadlines",
    "describe_seconds",
    "failure_delay",
]

TokenCallback = Callable[[Token], None]
"""A callback receiving each new token (to persist or audit it)."""

# A 5-second token must keep a usable life: skew never eats more than this
# fraction of the lifetime the token had when it arrived.
SKEW_FRACTION = 0.1
# Failed refreshes in the soft window back off exponentially up to this.
MAX_FAILURE_BACKOFF = 30.0
# Jitter for the failure backoff only; nothing here needs unpredictability.
_jitter = random.Random()  # noqa: S311


class Settings(NamedTuple):
    """What a ``Reuse`` was built with; equal settings make ``reuse()`` a no-op."""

    skew: float
    max_age: float | None
    failure_backoff: float
    clock: Clock
    on_event: EventHook | None
    on_token: TokenCallback | None

    def check(self) -> Settings:
        """Return the settings with durations as floats, or raise ``ConfigError``."""
        return self._replace(
            skew=check_seconds("skew", self.skew),
            max_age=(
                None
                if self.max_age is None
                else check_seconds("max_age", self.max_age, positive=True)
            ),
            failure_backoff=check_seconds("failure_backoff", self.failure_backoff, positive=True),
        )


def deadlines(token: Token, now: float, settings: Settings) -> tuple[float, float]:
    """When ``token``, arriving at ``now``, is due for refresh, and when it is spent.

    Spent ("hard expiry") is ``expires_at - skew``, with ``skew`` clamped to
    a tenth of the token's remaining lifetime, and no later than
    ``now + max_age``; never, for a token of unknown expiry without
    ``max_age``. Due is the token's ``refresh_at`` (from ``buffer()``), and
    never later than spent.
    """
    spent = math.inf
    if token.expires_at is not None:
        lifetime = max(token.expires_at - now, 0.0)
        spent = token.expires_at - min(settings.skew, lifetime * SKEW_FRACTION)
    if settings.max_age is not None:
        spent = min(spent, now + settings.max_age)
    if token.refresh_at is None:
        return spent, spent
    return min(token.refresh_at, spent), spent


def failure_delay(initial: float, failures: int) -> float:
    """The wait after ``failures`` consecutive failed refreshes, in seconds.

    Exponential (``initial * 2 ** (failures - 1)``, capped at
    ``MAX_FAILURE_BACKOFF`` or ``initial`` if larger) with "equal jitter":
    a random point in the upper half, so that the wait is never near zero.
    """
    cap = max(MAX_FAILURE_BACKOFF, initial)
    delay = min(cap, initial * 2.0 ** min(failures - 1, 32))
    return delay * (0.5 + _jitter.random() / 2)


def describe_seconds(value: float | None) -> str:
    """A duration for a log line: ``"42s"``, or ``"an unknown time"``."""
    return "an unknown time" if value is None or math.isinf(value) else f"{value:.0f}s"
