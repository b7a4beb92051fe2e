"""blocking(): a token source for sync code (threads, Celery tasks, Django views, scripts)."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from functools import partial

from ._bridge import SourceBridge, acquire_bridge, release_bridge
from ._closing import Closing
from ._errors import ConfigError
from ._source import FreshSource, TokenSource
from ._token import Token

__all__ = ["Blocking", "blocking", "check_backend", "check_source"]

_BACKENDS = ("asyncio", "trio")


def blocking(source: TokenSource, *, portal_backend: str = "asyncio") -> Blocking:
    """A blocking view of ``source``, for code that has no event loop of its own.

    See ``Blocking`` for the contract.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend (``"asyncio"`` or ``"trio"``) of
            the private loop that serves threads.

    Raises:
        ConfigError: ``source`` is not a token source.
    """
    return Blocking(source, portal_backend=portal_backend)


class Blocking(Closing):
    """A token source's calls, made from plain threads: ``token()`` blocks and returns.

    ``token()`` returns what ``await source.token()`` would. A fresh token
    of a ``reuse()`` cache (any ``FreshSource``) is handed out at once, with
    no lock and no event loop; a refresh runs on the source's event loop and
    blocks only the calling thread. That loop is the bridge's private loop
    (a daemon thread), the same one a sync ``httpx.Client`` with
    ``TokenAuth`` uses, so one source serves async tasks, sync HTTP clients
    and ``Blocking`` alike, with one cache and one single flight.

    Thread safety: safe for concurrent use from any number of threads;
    however many call ``token()`` on a cold ``reuse()`` cache, the source
    makes one token request. After ``os.fork()`` (gunicorn ``--preload``,
    Celery prefork) the child starts a private loop of its own on its first
    refresh; a token cached before the fork is still used.

    Never call it on the thread of the event loop the source lives on (in a
    coroutine that shares the source): the thread would wait for itself.
    That raises ``RuntimeError`` at once instead of deadlocking. A coroutine
    on *another* event loop may call it, but blocks its loop meanwhile.

    ``close()`` (or ``with blocking(source) as tokens:``) lets go of the
    bridge; when the last user of the source's bridge (a ``Blocking`` or a
    ``TokenAuth``) lets go, the source's ``aclose()`` is awaited on the
    private loop and the loop stops. A forgotten ``Blocking`` lets go when
    it is garbage-collected.

    Args:
        source: where tokens come from; usually a ``reuse()`` cache.
        portal_backend: the anyio backend of the private loop.

    Raises:
        ConfigError: ``source`` is not a token source (it has no coroutine
            method ``token`` and no method ``invalidate``), or
            ``portal_backend`` is neither ``"asyncio"`` nor ``"trio"``.
    """

    def __init__(self, source: TokenSource, *, portal_backend: str = "asyncio") -> None:
        check_source(source, "blocking()")
        check_backend(portal_backend, "blocking()")
        self._source = source
        self._fresh: Callable[[], Token | None] = (
            source.fresh if isinstance(source, FreshSource) else _nothing_fresh
        )
        self._bridge: SourceBridge = acquire_bridge(source, private_backend=portal_backend)
        self._release = weakref.finalize(self, release_bridge, source)

    @property
    def source(self) -> TokenSource:
        """The token source this view calls."""
        return self._source

    def token(self) -> Token:
        """Return a token to use now, blocking this thread while one is fetched.

        Raises:
            TokenSourceError: whatever the source raised (the same error
                ``await source.token()`` would raise).
            RuntimeError: called on the thread of the event loop the source
                lives on, or after ``close()``.
        """
        self._reachable()
        token = self._fresh()  # a fresh cached token: no hop to the event loop
        if token is not None:
            return token
        return self._bridge.call(self._source.token)

    def invalidate(self, token: Token) -> None:
        """Report that ``token`` was rejected (a 401), so that the cache drops it.

        Runs on the source's event loop, like every other call that changes
        the cache. A report about an older token leaves a newer one cached.

        Raises:
            RuntimeError: as ``token()``.
        """
        self._reachable()
        self._bridge.call(partial(_invalidate, self._source, token))

    def close(self) -> None:
        """Let go of the source's bridge (see the class docstring). Idempotent."""
        self._release()

    def _reachable(self) -> None:
        """Refuse a call that would deadlock, or one after ``close()``, before anything else."""
        if not self._release.alive:
            raise RuntimeError("this blocking() view is closed")
        self._bridge.for_threads()  # raises on the source's own loop, or once closed

    def __repr__(self) -> str:
        return f"Blocking({self._source!r})"


def check_source(source: object, where: str) -> None:
    """Refuse, at construction, anything that is not an async token source.

    Raises:
        ConfigError: naming ``where`` and the type given (never its value).
    """
    token = getattr(source, "token", None)
    if not (
        isinstance(source, TokenSource)
        and inspect.iscoroutinefunction(token)
        and callable(getattr(source, "invalidate", None))
    ):
        raise ConfigError(
            f"{where} needs a token source (an object with `async def token()` and "
            f"`invalidate(token)`, such as reuse(ClientCredentials(...))), "
            f"not {type(source).__name__}"
        )


def check_backend(portal_backend: object, where: str) -> None:
    """Refuse, at construction, a private-loop backend anyio cannot start.

    Otherwise the mistake would show only at the first refresh from a thread.

    Raises:
        ConfigError: naming ``where`` and the value given.
    """
    if portal_backend not in _BACKENDS:
        given = repr(portal_backend) if isinstance(portal_backend, str) else type(portal_backend)
        raise ConfigError(f"{where}: portal_backend must be 'asyncio' or 'trio', not {given}")


def _nothing_fresh() -> Token | None:
    return None


async def _invalidate(source: TokenSource, token: Token) -> None:
    source.invalidate(token)
