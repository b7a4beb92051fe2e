"""The TokenSource protocol, the clock, and the event hook types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ._token import Token

__all__ = ["Clock", "EventHook", "EventKind", "FreshSource", "TokenEvent", "TokenSource"]

Clock = Callable[[], float]
"""A function returning wall-clock time in epoch seconds, like ``time.time``."""


@runtime_checkable
class TokenSource(Protocol):
    """Anything that can hand out access tokens.

    Every source and wrapper in tokensources implements this protocol, so
    they compose: a wrapper takes a source and is one.
    """

    async def token(self) -> Token:
        """Return a token to use now.

        Concurrency and cancellation: implementations are safe to call from
        many tasks at once. Cancelling a caller cancels only that caller's
        wait (wrappers guarantee that no other caller is left hanging).

        Raises:
            TokenSourceError: no token could be had.
        """
        ...

    def invalidate(self, token: Token) -> None:
        """Report that ``token`` was rejected (e.g. a 401), so caches drop it.

        Caches drop their copy only if it is this very token, so a late
        report about an old token never throws away a newer one. Sources
        without a cache do nothing.
        """
        ...


@runtime_checkable
class FreshSource(Protocol):
    """A source that can hand out its cached token without I/O, lock or event loop.

    ``reuse()`` caches are such sources. ``TokenAuth`` looks for this
    protocol once, when it is built, so that a request from any thread or
    event loop gets a fresh cached token at once, and only a refresh waits
    for the event loop the source lives on.
    """

    def fresh(self) -> Token | None:
        """The token ``token()`` would return at once right now, or None if it would not.

        Thread safety: safe to call from any thread while the source is in
        use on its event loop. It never calls an inner source, takes no
        lock, never suspends and reports no event.
        """
        ...


EventKind = Literal[
    "refresh_started",
    "refresh_succeeded",
    "refresh_failed",
    "cache_hit",
    "cache_miss",
    "lock_wait",
    "fallback",
    "cooldown",
]


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """Something a source or wrapper did, for metrics and tracing.

    Attributes:
        kind: what happened.
        source: the name of the component that reports it (``"reuse"``, ...).
        token: the token concerned, if any (print only its fingerprint).
        error: the error concerned, for ``refresh_failed`` and ``fallback``.
    """

    kind: EventKind
    source: str
    token: Token | None = None
    error: BaseException | None = None


EventHook = Callable[[TokenEvent], None]
"""A callback receiving ``TokenEvent``s. It must be quick and must not raise."""


async def aclose_source(source: object) -> None:
    """Close ``source`` if it owns resources (has ``aclose``); otherwise do nothing.

    Wrappers call this from their own ``aclose`` so that closing the outermost
    wrapper closes the whole stack.
    """
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()
