"""The nonce a server demands in DPoP proofs (RFC 9449 §8, §9): one value, rotated, with a grace."""

from __future__ import annotations

import secrets
import threading
import time

from .._errors import ConfigError
from .._source import Clock

__all__ = ["DPoPNonce"]


class DPoPNonce:
    """The nonce a resource (or a token endpoint) demands in DPoP proofs (RFC 9449 §8, §9).

    ``current`` is the value to send in ``DPoP-Nonce``; it moves to a new
    random value every ``lifetime`` seconds (or on ``rotate()``). A proof
    is accepted with the current nonce, and with the one before it until
    the current one is ``grace`` seconds old, so that requests in flight at
    a rotation are not all refused.

    Args:
        lifetime: seconds a nonce is current.
        grace: seconds the previous nonce is still accepted after a rotation.
        clock: wall-clock time.

    Raises:
        ConfigError: ``lifetime`` or ``grace`` is not a number of seconds (> 0, >= 0).
    """

    __slots__ = ("_clock", "_current", "_grace", "_lifetime", "_lock", "_previous", "_since")

    def __init__(
        self, *, lifetime: float = 300.0, grace: float = 10.0, clock: Clock = time.time
    ) -> None:
        for name, value, least in (("lifetime", lifetime, 0.0), ("grace", grace, -1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= least:
                raise ConfigError(f"{name} must be a number of seconds (lifetime > 0, grace >= 0)")
        self._lifetime = float(lifetime)
        self._grace = float(grace)
        self._clock = clock
        self._lock = threading.Lock()
        self._current = secrets.token_urlsafe(16)
        self._previous: str | None = None
        self._since = clock()

    def __repr__(self) -> str:
        return f"DPoPNonce(lifetime={self._lifetime}, grace={self._grace})"

    @property
    def current(self) -> str:
        """The nonce to hand out now (rotated first when its lifetime is over)."""
        with self._lock:
            if self._clock() >= self._since + self._lifetime:
                self._rotate()
            return self._current

    def accepted(self) -> tuple[str, ...]:
        """The nonces a proof may carry now: the current one, and the previous during the grace."""
        current = self.current
        with self._lock:
            previous = self._previous
            if previous is not None and self._clock() < self._since + self._grace:
                return (current, previous)
            return (current,)

    def rotate(self) -> str:
        """Move to a new nonce at once; the old one is accepted for the grace period."""
        with self._lock:
            return self._rotate()

    def _rotate(self) -> str:
        self._previous, self._current = self._current, secrets.token_urlsafe(16)
        self._since = self._clock()
        return self._current
