"""The callbacks of a cache: the event hook and ``on_token``, never allowed to break it."""

from __future__ import annotations

from .._log import logger
from .._source import EventHook, EventKind, TokenEvent
from .._token import Token
from ._policy import TokenCallback

__all__ = ["Hooks"]


class Hooks:
    """Calls a component's ``on_event`` and ``on_token`` callbacks.

    A callback that raises is logged and otherwise ignored: a metrics bug
    must not fail token requests or leave a refresh half done.
    """

    __slots__ = ("_hit", "_on_token", "component", "on_event")

    def __init__(
        self, component: str, on_event: EventHook | None, on_token: TokenCallback | None
    ) -> None:
        self.component = component
        self.on_event = on_event
        self._on_token = on_token
        self._hit: TokenEvent | None = None

    def emit(
        self, kind: EventKind, token: Token | None = None, error: BaseException | None = None
    ) -> None:
        """Report an event, if there is a hook."""
        if self.on_event is not None:
            _call(self.on_event, TokenEvent(kind, self.component, token, error))

    def hit(self) -> None:
        """Report a cache hit on the current token (the event is built once per token)."""
        if self.on_event is not None and self._hit is not None:
            _call(self.on_event, self._hit)

    def new_token(self, token: Token) -> None:
        """Report a successful refresh and hand the new token to ``on_token``."""
        if self.on_event is not None:
            self._hit = TokenEvent("cache_hit", self.component, token)
        self.emit("refresh_succeeded", token)
        if self._on_token is not None:
            try:
                self._on_token(token)
            except Exception:
                logger.exception("on_token callback raised; ignored")


def _call(hook: EventHook, event: TokenEvent) -> None:
    try:
        hook(event)
    except Exception:
        logger.exception("on_event hook raised on %s; ignored", event.kind)
