"""A shared token's lifetime across clocks: what a writer stores, what a reader believes.

The instants in a stored token (``expires_at``, ``refresh_at``) are epoch
seconds on the clock of the process that fetched it, and that clock may be
minutes off. Redis counts a value's TTL down on its own clock, so the
remaining lifetime it reports is the same for every reader, whatever their
clocks say. A reader therefore places the token on its own clock from that
TTL, and keeps the stored instants only as an upper bound::

    expires_at = min(now + ttl, stored expires_at)
    refresh_at = stored refresh_at, moved as much as expires_at was

The TTL stops a writer whose clock runs fast: its instants are late, and
would have others serve the token after it expired. The stored instant stops
the two things the TTL alone would let through: a writer whose clock runs
slow storing a token whose expiry came as an instant from elsewhere (a JWT
``exp``, an external service's ``expires_at``), which makes its TTL too long;
and anyone with write access extending a stored value's TTL. A skewed writer
can thus make the others refresh early, never serve late. The lead of the
refresh point before expiry is a duration, the same on every clock, so the
fleet still agrees on when to refresh.
"""

from __future__ import annotations

from .._token import Token
from ..wrappers._policy import SKEW_FRACTION

__all__ = ["UNKNOWN_EXPIRY_TTL", "localise", "stored_ttl", "with_refresh_point"]

UNKNOWN_EXPIRY_TTL = 3600.0
"""Seconds Redis keeps a token whose expiry is unknown."""


def stored_ttl(token: Token, now: float) -> float:
    """Seconds Redis should keep ``token``, stored at ``now`` (not above 0: do not store it)."""
    return UNKNOWN_EXPIRY_TTL if token.expires_at is None else token.expires_at - now


def localise(token: Token, ttl: float, now: float) -> Token:
    """``token`` as read from Redis at ``now``, its instants moved onto this process's clock.

    Args:
        token: the stored token, its instants on its writer's clock.
        ttl: seconds Redis said the value has left, read at ``now`` or
            later (reading the clock first errs on the early side).
        now: this process's clock, read before the value was.
    """
    if token.expires_at is None:
        return token  # no instant to move; Redis keeps it UNKNOWN_EXPIRY_TTL at most
    expires_at = min(now + ttl, token.expires_at)
    if token.refresh_at is None:
        return token.replace(expires_at=expires_at)
    refresh_at = min(token.refresh_at + (expires_at - token.expires_at), expires_at)
    return token.replace(expires_at=expires_at, refresh_at=refresh_at)


def with_refresh_point(token: Token, now: float, skew: float) -> Token:
    """Give ``token``, fetched at ``now``, the refresh point every process will use.

    Without ``buffer()`` the point is ``reuse()``'s own (``expires_at``
    minus the clamped ``skew``), fixed once by the writer so that the whole
    fleet agrees on it.
    """
    if token.expires_at is None or token.refresh_at is not None:
        return token
    lifetime = max(token.expires_at - now, 0.0)
    return token.replace(refresh_at=token.expires_at - min(skew, lifetime * SKEW_FRACTION))
