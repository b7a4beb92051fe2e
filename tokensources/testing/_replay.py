"""A memory of one-time values (assertion ``jti``) until they expire, to refuse replays."""

from __future__ import annotations

from collections.abc import Hashable

from .._source import Clock

__all__ = ["ReplayCache"]

_PURGE_EVERY = 1024


class ReplayCache:
    """Remembers each one-time value until it expires, and refuses to see it twice.

    RFC 7523 §3 item 7: a ``jti`` may be used once while its JWT is valid.
    Expired entries are purged every so often, so memory is bounded by the
    values still valid, not by every value ever seen.

    Args:
        clock: the issuer's clock.
        leeway: seconds an entry is kept past its expiry (the clock difference
            forgiven when the JWT's ``exp`` was checked).
    """

    def __init__(self, clock: Clock, *, leeway: float) -> None:
        self._clock = clock
        self._leeway = leeway
        self._seen: dict[Hashable, float] = {}

    def first_use(self, key: Hashable, expires_at: float) -> bool:
        """Remember ``key`` until ``expires_at``; False when it is already remembered."""
        now = self._clock()
        seen_until = self._seen.get(key)
        if seen_until is not None and seen_until + self._leeway > now:
            return False
        self._seen[key] = expires_at
        if len(self._seen) % _PURGE_EVERY == 0:
            horizon = now - self._leeway
            self._seen = {k: v for k, v in self._seen.items() if v > horizon}
        return True
