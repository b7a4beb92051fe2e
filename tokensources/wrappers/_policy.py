"""The rules of reuse(): its settings, and when a token is due or spent."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from .._source import Clock, EventHook
from .._token import Token
from ._checks import check_seconds
from ._margin import MAX_MARGIN_FRACTION

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
    learn_margin: bool = True

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
            learn_margin=bool(self.learn_margin),
        )


def deadlines(
    token: Token, now: float, settings: Settings, *, margin: float = 0.0, room: float = 0.0
) -> tuple[float, float]:
    """When ``token``, arriving at ``now``, is due for refresh, and when it is spent.

    Spent ("hard expiry") is ``expires_at`` minus the larger of ``skew``
    (clamped to a tenth of the token's remaining lifetime) and the learned
    ``margin`` (the delay a request may take to reach the API, clamped to
    half the remaining lifetime), and no later than ``now + max_age``;
    never, for a token of unknown expiry without ``max_age``. Due is the
    token's ``refresh_at`` (from ``buffer()``), and never later than
    ``room`` (the time a refresh takes, at most half of what is left)
    before spent. A token of unknown expiry is due when spent, whatever
    ``margin`` and ``room`` say.
    """
    spent = math.inf
    due = math.inf
    if token.expires_at is not None:
        lifetime = max(token.expires_at - now, 0.0)
        skew = min(settings.skew, lifetime * SKEW_FRACTION)
        spent = token.expires_at - max(skew, min(margin, lifetime * MAX_MARGIN_FRACTION))
        due = spent - min(room, max(spent - now, 0.0) / 2)
    if settings.max_age is not None:
        spent = min(spent, now + settings.max_age)
    due = min(due, spent)
    if token.refresh_at is None:
        return due, spent
    return min(token.refresh_at, due), spent


def describe_seconds(value: float | None) -> str:
    """A duration for a log line: ``"42s"``, or ``"an unknown time"``."""
    return "an unknown time" if value is None or math.isinf(value) else f"{value:.0f}s"
