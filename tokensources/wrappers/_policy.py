"""The rules of reuse(): its settings, and when a token is due or spent."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from .._source import Clock, EventHook
from .._token import Token
from ._checks import check_seconds

__all__ = ["SKEW_FRACTION", "Settings", "TokenCallback", "deadlines", "describe_seconds"]

TokenCallback = Callable[[Token], None]
"""A callback receiving each new token (to persist or audit it)."""

# A 5-second token must keep a usable life: skew never eats more than this
# fraction of the lifetime the token had when it arrived.
SKEW_FRACTION = 0.1


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


def describe_seconds(value: float | None) -> str:
    """A duration for a log line: ``"42s"``, or ``"an unknown time"``."""
    return "an unknown time" if value is None or math.isinf(value) else f"{value:.0f}s"
