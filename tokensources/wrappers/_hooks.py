"""What the token cache reports: log lines, events and new tokens, never allowed to break it."""

from __future__ import annotations

from .._cache import Observer
from .._log import logger
from .._source import EventHook, EventKind, TokenEvent
from .._token import Token
from ._policy import TokenCallback, describe_seconds

__all__ = ["TokenReports"]


class TokenReports(Observer[Token]):
    """The token cache's observer: logs by fingerprint, calls ``on_event`` and ``on_token``.

    A callback that raises is logged and otherwise ignored: a metrics bug
    must not fail token requests or leave a refresh half done.
    """

    __slots__ = ("_hit", "_on_event", "_on_token", "component", "report_hits")

    def __init__(
        self, component: str, on_event: EventHook | None, on_token: TokenCallback | None
    ) -> None:
        self.component = component
        self._on_event = on_event
        self._on_token = on_token
        # With a hook, every hit is reported, so none may take the hot path.
        self.report_hits = on_event is not None
        self._hit: TokenEvent | None = None

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
        """Report ``cache_hit`` (the event is built once per token)."""
        if self._on_event is not None and self._hit is not None:
            _call(self._on_event, self._hit)

    def miss(self, value: Token | None) -> None:
        """Report ``cache_miss``."""
        self.emit("cache_miss", value)

    def started(self, value: Token | None) -> None:
        """Report ``refresh_started``."""
        self.emit("refresh_started", value)

    def succeeded(self, value: Token, now: float) -> None:
        """Log the new token, report ``refresh_succeeded`` and hand it to ``on_token``."""
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
        """Log the failure and report ``refresh_failed``."""
        if usable is not None:
            logger.warning(
                "token refresh failed (%s: %s); still serving token %s for %s, "
                "next attempt in %.1fs",
                type(error).__name__,
                error,
                usable.fingerprint,
                describe_seconds(usable_for),
                retry_in,
            )
        else:
            logger.warning(
                "token refresh failed (%s: %s); no valid token to serve, "
                "callers get this error for %.1fs until the next attempt",
                type(error).__name__,
                error,
                retry_in,
            )
        self.emit("refresh_failed", usable, error)

    def backed_off(self, error: Exception) -> None:
        """Report ``cooldown``: a caller got the last error without a new attempt."""
        self.emit("cooldown", None, error)


def _call(hook: EventHook, event: TokenEvent) -> None:
    try:
        hook(event)
    except Exception:
        logger.exception("on_event hook raised on %s; ignored", event.kind)
