"""What the token cache reports: counts, log lines, events, new tokens; none may break it.

Every ``reuse()`` cache has one ``TokenReports``. It counts what the cache
does in plain integers (the hot path adds one to ``hits``, nothing more),
and ``tokensources.otel`` reads those counts when a meter collects, so that
metrics cost the hot path nothing it does not already pay. Refreshes (the
slow path) are also handed to the ``Telemetry`` plugged in by
``tokensources.otel.instrument()``, for their spans and durations.

Errors are reported once. A failed refresh whose error reaches a caller is
not logged: the caller has it. One that nobody receives (the cache goes on
serving a still-valid token) is logged once per failure streak, naming the
source by its identity fingerprint and the token by its fingerprint; the
streak's end is logged too.
"""

from __future__ import annotations

import time
import weakref
from typing import Protocol

from .._cache import Observer
from .._identity import shared_identity
from .._log import logger
from .._redact import fingerprint
from .._source import Clock, EventHook, EventKind, TokenEvent
from .._token import Token
from ._policy import TokenCallback, describe_seconds

__all__ = [
    "ABANDONED",
    "OUTCOMES",
    "Telemetry",
    "TokenReports",
    "count_event",
    "event_counts",
    "live_reports",
    "plug",
]

OUTCOMES = ("hit", "soft_window_hit", "miss", "coalesced", "cooldown")
"""The outcomes ``TokenReports.outcomes()`` counts a ``token()`` call under."""


class RefreshAbandonedError(Exception):
    """A refresh that ended without an outcome: its caller was cancelled."""


ABANDONED = RefreshAbandonedError("the refresh was cancelled")
"""What ``Telemetry.refresh_ended`` gets as the error of a cancelled refresh."""


class Telemetry(Protocol):
    """What ``tokensources.otel`` plugs in: it hears about every refresh (never a hit).

    Its methods are called inside the cache's decisions: they must return
    at once. One that raises is logged and otherwise ignored.
    """

    def refresh_started(self, reports: TokenReports) -> object:
        """A refresh starts; returns a handle (a span) given back to ``refresh_ended``."""
        ...

    def refresh_ended(
        self, reports: TokenReports, handle: object, seconds: float, error: BaseException | None
    ) -> None:
        """The refresh started with ``handle`` ended after ``seconds``: with ``error``, or not."""
        ...


class _Plug:
    """The one global: the ``Telemetry`` in use, if any (``tokensources.otel`` sets it)."""

    __slots__ = ("telemetry",)

    def __init__(self) -> None:
        self.telemetry: Telemetry | None = None


plug = _Plug()
_live: weakref.WeakSet[TokenReports] = weakref.WeakSet()


def live_reports() -> list[TokenReports]:
    """Every ``TokenReports`` whose cache still exists (for metric collection)."""
    for _ in range(8):
        try:
            return list(_live)
        except RuntimeError:  # noqa: PERF203 - a cache was built in another thread: look again
            continue
    return []


# Events of components that have no TokenReports of their own, by kind: a
# fleet's waits for the Redis lock ("lock_wait"), DPoP nonce retries.
_event_counts: dict[str, int] = {}


def count_event(kind: str) -> None:
    """Count one event of ``kind`` (a plain integer; ``tokensources.otel`` reads it)."""
    _event_counts[kind] = _event_counts.get(kind, 0) + 1


def event_counts() -> dict[str, int]:
    """The counts of ``count_event()``, by kind."""
    return dict(_event_counts)


class TokenReports(Observer[Token]):
    """The token cache's observer: counts, logs by fingerprint, calls ``on_event`` and ``on_token``.

    A callback that raises is logged and otherwise ignored: a metrics bug
    must not fail token requests or leave a refresh half done.

    Counts (plain integers; written on the cache's event loop, except
    ``hits``, which ``Reuse.fresh()`` may add to from any thread, so that a
    rare concurrent increment may be lost):

    Attributes:
        hits: calls answered on the hot path (``token()`` and ``fresh()``).
        soft_hits: calls answered with the cached token off the hot path
            (the soft window, while another caller refreshes or backs off).
        misses: calls that found no usable token.
        misses_refreshing: those of ``misses`` that ran the refresh themselves.
        cooldowns: calls answered with the last error, within a backoff.
        failures: failed refreshes by error class name.
        failing: consecutive failed refreshes now (0 once one succeeds).
        latest: the last new token (for its remaining lifetime), if any.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_handle",
        "_hit",
        "_identity",
        "_missed",
        "_on_event",
        "_on_token",
        "_source",
        "_started_at",
        "_warned",
        "component",
        "cooldowns",
        "failing",
        "failures",
        "hits",
        "latest",
        "misses",
        "misses_refreshing",
        "report_hits",
        "soft_hits",
    )

    def __init__(
        self,
        component: str,
        on_event: EventHook | None,
        on_token: TokenCallback | None,
        *,
        clock: Clock = time.time,
        source: object = None,
    ) -> None:
        self.component = component
        self._on_event = on_event
        self._on_token = on_token
        self._clock = clock
        self._source = source
        # With a hook, every hit is reported, so none may take the hot path.
        self.report_hits = on_event is not None
        self._hit: TokenEvent | None = None
        self.hits = self.soft_hits = self.misses = self.misses_refreshing = self.cooldowns = 0
        self.failures: dict[str, int] = {}
        self.failing = 0
        self._missed = False
        self._warned = False
        self._started_at = 0.0
        self._handle: object = None
        self._identity: str | None = None
        self.latest: Token | None = None  # the last new token, for its remaining lifetime
        _live.add(self)

    def identity(self) -> str:
        """The source's identity fingerprint (never a client id, URL, scope or secret).

        8 hex digits of a digest of the source's ``cache_identity`` (which
        itself holds only a one-way digest of the credential), computed once;
        ``"unnamed"`` for a source without one (``Static``, a bare callable).
        """
        if self._identity is None:
            try:
                self._identity = fingerprint(shared_identity(self._source, None))
            except Exception:  # no cache_identity: nothing shareable to name it by
                self._identity = "unnamed"
        return self._identity

    def remaining_lifetime(self) -> float | None:
        """Seconds until the last new token expires (by the cache's clock), if it says."""
        token = self.latest
        if token is None or token.expires_at is None:
            return None
        return max(0.0, token.expires_at - self._clock())

    def outcomes(self) -> dict[str, int]:
        """How many ``token()`` calls ended each way (see ``OUTCOMES``)."""
        return {
            "hit": self.hits,
            "soft_window_hit": self.soft_hits,
            "miss": self.misses_refreshing,
            "coalesced": max(0, self.misses - self.misses_refreshing - self.cooldowns),
            "cooldown": self.cooldowns,
        }

    def emit(
        self, kind: EventKind, token: Token | None = None, error: BaseException | None = None
    ) -> None:
        """Report an event, if there is a hook."""
        if self._on_event is not None:
            _call(self._on_event, TokenEvent(kind, self.component, token, error))

    def label(self, value: Token) -> str:
        """Name a token by its fingerprint."""
        return f"token {value.fingerprint} from the token source"

    def hit(self, value: Token) -> None:
        """Count a hit off the hot path; report ``cache_hit`` (one event object per token)."""
        if self.report_hits and not _in_soft_window(value, self._clock()):
            self.hits += 1  # with a hook, hot-path hits come here too
        else:
            self.soft_hits += 1
        if self._on_event is not None and self._hit is not None:
            _call(self._on_event, self._hit)

    def miss(self, value: Token | None) -> None:
        """Count and report ``cache_miss``."""
        self.misses += 1
        # The cache either starts the refresh right away (started() comes
        # next, in this task, before any other) or waits for the one under way.
        self._missed = True
        self.emit("cache_miss", value)

    def started(self, value: Token | None) -> None:
        """Start timing the refresh, tell the telemetry, report ``refresh_started``."""
        if self._missed:
            self.misses_refreshing += 1
            self._missed = False
        telemetry = plug.telemetry
        if telemetry is not None:
            if self._handle is not None:  # the last refresh was cancelled: close its span
                self._ended(telemetry, 0.0, ABANDONED)
            try:
                self._handle = telemetry.refresh_started(self)
            except Exception:
                logger.exception("telemetry raised on a refresh start; ignored")
        self._started_at = time.perf_counter()
        self.emit("refresh_started", value)

    def succeeded(self, value: Token, now: float) -> None:
        """Log the new token, report ``refresh_succeeded`` and hand it to ``on_token``."""
        self._missed = False
        self.latest = value
        self._end_refresh(None)
        if self._warned:
            logger.info(
                "token refresh works again for source %s after %d failed attempt(s)",
                self.identity(),
                self.failing,
            )
        self.failing = 0
        self._warned = False
        logger.debug(
            "token refreshed: %s, expires in %s",
            value.fingerprint,
            describe_seconds(value.expires_in(now)),
        )
        if self._on_event is not None:
            self._hit = TokenEvent("cache_hit", self.component, value)
        self.emit("refresh_succeeded", value)
        if self._on_token is not None:
            try:
                self._on_token(value)
            except Exception:
                logger.exception("on_token callback raised; ignored")

    def failed(
        self, error: Exception, usable: Token | None, usable_for: float, retry_in: float
    ) -> None:
        """Count the failure, log it if nobody receives it, report ``refresh_failed``.

        With no usable token the error goes to every waiting caller, so it is
        not logged. With one, the callers get that token and nobody sees the
        error: the first such failure of a streak is logged, the rest are not.
        """
        self._missed = False
        self._end_refresh(error)
        name = type(error).__name__
        self.failures[name] = self.failures.get(name, 0) + 1
        self.failing += 1
        if usable is not None and not self._warned:
            self._warned = True
            logger.warning(
                "token refresh failed for source %s (%s: %s); still serving token %s for %s, "
                "next attempt in %.1fs; further failures are not logged until one succeeds",
                self.identity(),
                name,
                error,
                usable.fingerprint,
                describe_seconds(usable_for),
                retry_in,
            )
        self.emit("refresh_failed", usable, error)

    def backed_off(self, error: Exception) -> None:
        """Count and report ``cooldown``: a caller got the last error without a new attempt."""
        self.cooldowns += 1
        self.emit("cooldown", None, error)

    def _end_refresh(self, error: BaseException | None) -> None:
        telemetry = plug.telemetry
        if telemetry is not None and self._handle is not None:
            self._ended(telemetry, time.perf_counter() - self._started_at, error)
        self._handle = None

    def _ended(self, telemetry: Telemetry, seconds: float, error: BaseException | None) -> None:
        handle, self._handle = self._handle, None
        try:
            telemetry.refresh_ended(self, handle, seconds, error)
        except Exception:
            logger.exception("telemetry raised on a refresh end; ignored")


def _in_soft_window(token: Token, now: float) -> bool:
    """Whether ``token`` is past its own ``refresh_at`` (set by ``buffer()``)."""
    return token.refresh_at is not None and now >= token.refresh_at


def _call(hook: EventHook, event: TokenEvent) -> None:
    try:
        hook(event)
    except Exception:
        logger.exception("on_event hook raised on %s; ignored", event.kind)
