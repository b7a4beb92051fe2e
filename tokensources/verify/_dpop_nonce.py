"""The nonce a server demands in DPoP proofs (RFC 9449 §8, §9): one value, rotated, with a grace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time

from .._errors import ConfigError
from .._source import Clock
from ..wrappers._checks import check_seconds

__all__ = ["DPoPNonce"]

# The least shared secret: as many bytes as the HMAC-SHA256 output (RFC 2104 §3).
MIN_SECRET_BYTES = 32
# Domain separation: the same secret used for something else never yields a nonce.
_LABEL = b"tokensources DPoP nonce\x00"


class DPoPNonce:
    """The nonce a resource (or a token endpoint) demands in DPoP proofs (RFC 9449 §8, §9).

    ``current`` is the value to send in ``DPoP-Nonce``. A proof is accepted
    with the current nonce, and with the one before it for ``grace``
    seconds after the current one took over, so that requests in flight at
    a rotation are not all refused; never with an older one.

    Two modes:

    - **Random, per process** (no ``secret``, the default): the nonce is a
      new random value every ``lifetime`` seconds (or on ``rotate()``).
      Only this object knows it, so it suits an API served by one process.
      With several workers or replicas behind a load balancer, a client's
      retry lands on another process that demands another nonce, and
      requests keep failing: use a shared secret there.
    - **Shared secret** (``secret=``, at least 32 bytes): time is cut into
      windows of ``lifetime`` seconds since the epoch, and the nonce of
      window ``i`` is ``base64url(HMAC-SHA256(secret, label || i))`` (``i``
      as 8 bytes, big-endian). Every process with the same secret and a
      synchronised clock hands out and accepts the same nonces, with no
      coordination; the previous window's nonce is accepted for the first
      ``grace`` seconds of a window, which also covers small clock
      differences between processes. ``rotate()`` is not available (the
      windows are the rotation). Keep the secret as any other server
      secret; it is never shown in a ``repr`` or an error.

    Either way, what a nonce does not share across processes is the memory
    of proof ids that refuses replays (``DPoPReplays``): it is per process,
    so a proof replayed to another replica within its ``max_age`` is not
    recognised there. A ``lifetime`` shorter than the checker's ``max_age``
    narrows that window to the lifetime plus grace, it does not close it;
    where replays across replicas matter, route each client to one
    replica, or keep ``max_age`` short.

    Safe from any thread and from every task of a server.

    Args:
        lifetime: seconds a nonce is current (finite, > 0).
        grace: seconds the previous nonce is still accepted after the
            current one took over (finite, >= 0).
        secret: the secret shared by every process that must agree on the
            nonce (bytes, or a str taken as UTF-8), at least 32 bytes.
        clock: wall-clock time.

    Raises:
        ConfigError: ``lifetime`` or ``grace`` is not a usable number of
            seconds, or ``secret`` is not bytes or str, or shorter than 32
            bytes (the message never shows it).
    """

    __slots__ = (
        "_clock",
        "_current",
        "_grace",
        "_lifetime",
        "_lock",
        "_previous",
        "_previous_until",
        "_secret",
        "_since",
    )

    def __init__(
        self,
        *,
        lifetime: float = 300.0,
        grace: float = 10.0,
        secret: bytes | str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._lifetime = check_seconds("lifetime", lifetime, positive=True)
        self._grace = check_seconds("grace", grace)
        self._secret = _checked_secret(secret)
        self._clock = clock
        self._lock = threading.Lock()
        self._current = secrets.token_urlsafe(16)
        self._previous: str | None = None
        self._previous_until = -math.inf
        self._since = clock()

    def __repr__(self) -> str:
        mode = ", secret=<shared>" if self._secret is not None else ""
        return f"DPoPNonce(lifetime={self._lifetime}, grace={self._grace}{mode})"

    @property
    def current(self) -> str:
        """The nonce to hand out now (rotated first when its lifetime is over)."""
        secret = self._secret
        if secret is not None:
            return _windowed(secret, self._window(self._clock()))
        with self._lock:
            now = self._clock()
            if now >= self._since + self._lifetime:
                # Lazily, perhaps after a long idle: the old nonce's own window
                # ended at since + lifetime, and its grace is counted from there.
                self._previous_until = self._since + self._lifetime + self._grace
                self._previous, self._current = self._current, secrets.token_urlsafe(16)
                self._since = now
            return self._current

    def accepted(self) -> tuple[str, ...]:
        """The nonces a proof may carry now: the current one, and the previous during the grace."""
        secret = self._secret
        if secret is not None:
            now = self._clock()
            window = self._window(now)
            current = _windowed(secret, window)
            if now < window * self._lifetime + self._grace:
                return (current, _windowed(secret, window - 1))
            return (current,)
        current = self.current
        with self._lock:
            previous = self._previous
            if previous is not None and self._clock() < self._previous_until:
                return (current, previous)
            return (current,)

    def rotate(self) -> str:
        """Move to a new nonce at once; the old one is accepted for the grace period.

        Raises:
            ConfigError: the nonce is derived from a shared secret, whose
                windows every process must agree on.
        """
        if self._secret is not None:
            raise ConfigError("a DPoPNonce with a shared secret rotates with its windows only")
        with self._lock:
            now = self._clock()
            self._previous, self._current = self._current, secrets.token_urlsafe(16)
            self._previous_until = now + self._grace
            self._since = now
            return self._current

    def _window(self, now: float) -> int:
        return math.floor(now / self._lifetime)


def _windowed(secret: bytes, window: int) -> str:
    """The nonce of ``window`` under ``secret``: base64url(HMAC-SHA256(secret, label || i))."""
    message = _LABEL + window.to_bytes(8, "big", signed=True)
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _checked_secret(secret: object) -> bytes | None:
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise ConfigError("secret must be bytes or a str")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"secret must be at least {MIN_SECRET_BYTES} bytes (a random value)")
    return secret
