"""Token quotas: N tokens per client per window, then 429 with ``Retry-After``.

Identity providers bill and throttle machine-to-machine tokens per client
(Auth0's M2M token quota, Entra's throttling of the token endpoint): a
client that asks for a token every time it calls an API is refused with 429
and a ``Retry-After``. A quota here makes the testing server do the same, on
the issuer's clock, so a test can show that its client stays under it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from .._errors import ConfigError
from .._source import Clock

__all__ = ["Quota", "Quotas"]


@dataclass(frozen=True, slots=True)
class Quota:
    """A token quota: at most ``tokens`` tokens issued per client in any ``per`` seconds.

    Attributes:
        tokens: how many tokens a client may be issued in the window.
        per: the sliding window, in seconds.
    """

    tokens: int
    per: float


class Quotas:
    """The token quotas of one issuer and the tokens each client was issued lately.

    A sliding window: a client may have been issued at most ``tokens``
    tokens in the last ``per`` seconds by the issuer's clock. Only issued
    tokens count; refused requests (a wrong secret, a throttled request) do
    not. A quota set for a client id applies to it instead of the default
    one. Safe to use from any thread.

    Args:
        clock: the issuer's clock.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._default: Quota | None = None
        self._by_client: dict[str, Quota] = {}
        self._issued: dict[str, deque[float]] = {}

    def set(self, tokens: int, per: float, *, client_id: str | None = None) -> Quota:
        """Allow ``tokens`` tokens per ``per`` seconds to ``client_id``, or to every client.

        Raises:
            ConfigError: ``tokens`` is not a positive integer or ``per`` not a
                positive number of seconds.
        """
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
            raise ConfigError(f"a quota's tokens must be a positive integer, got {tokens!r}")
        if (
            not isinstance(per, (int, float))
            or isinstance(per, bool)
            or not math.isfinite(per)
            or per <= 0
        ):
            raise ConfigError(f"a quota's window must be a positive number of seconds, got {per!r}")
        quota = Quota(tokens, float(per))
        with self._lock:
            if client_id is None:
                self._default = quota
            else:
                self._by_client[client_id] = quota
        return quota

    def clear(self) -> None:
        """Remove every quota and forget the tokens issued."""
        with self._lock:
            self._default = None
            self._by_client.clear()
            self._issued.clear()

    def all(self) -> dict[str | None, Quota]:
        """Every quota set: the default one under None, the others by client id."""
        with self._lock:
            found: dict[str | None, Quota] = {} if self._default is None else {None: self._default}
            return found | dict(self._by_client)

    def quota_for(self, client_id: str) -> Quota | None:
        """The quota that applies to ``client_id``, or None."""
        return self._by_client.get(client_id, self._default)

    def admit(self, client_id: str) -> float | None:
        """Count one token for ``client_id`` if its quota allows; else the seconds to wait.

        Returns None when the token may be issued (it is counted at once, so
        concurrent requests cannot both take the last one); otherwise how
        long until the oldest token in the window leaves it.
        """
        if self._default is None and not self._by_client:  # the hot path: no quota at all
            return None
        with self._lock:
            quota = self.quota_for(client_id)
            if quota is None:
                return None
            now = self._clock()
            issued = self._issued.setdefault(client_id, deque())
            while issued and issued[0] <= now - quota.per:
                issued.popleft()
            if len(issued) >= quota.tokens:
                return issued[0] + quota.per - now
            issued.append(now)
            return None

    def release(self, client_id: str) -> None:
        """Give back the token ``admit`` counted, when it was not issued after all."""
        with self._lock:
            issued = self._issued.get(client_id)
            if issued:
                issued.pop()
