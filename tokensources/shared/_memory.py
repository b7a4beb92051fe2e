"""InMemoryShared: one token and one refresh for every source with the same identity."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from .._bridge import LoopBridge
from .._closing import AsyncClosing
from .._identity import shared_identity
from .._source import Clock, TokenSource, aclose_source
from .._token import Token
from ..wrappers import Reuse, reuse

__all__ = ["InMemoryShared", "SharedStore", "default_store"]


class SharedStore:
    """A registry of shared caches, one ``reuse()`` cache per identity.

    The library keeps one default store per process (``default_store()``);
    tests and applications that want isolated groups pass their own.
    Thread-safe. Each cache lives on one event loop, its *home* (the first
    loop that asks for the token); callers on other loops and threads are
    served on the home loop through a bridge, so the whole process keeps one
    token and one refresh, and the refreshing source's connections stay on
    the loop that made them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def entry(self, identity: str, source: TokenSource, *, skew: float, clock: Clock) -> _Entry:
        """The cache for ``identity``, created around ``source`` if there is none yet.

        The first source registered under an identity is the one that
        refreshes for all; later ones only share its cache.
        """
        with self._lock:
            entry = self._entries.get(identity)
            if entry is None:
                inner = source.source if isinstance(source, Reuse) else source
                cache = reuse(inner, skew=skew, clock=clock)
                entry = _Entry(cache, LoopBridge(cache))
                self._entries[identity] = entry
            return entry

    def clear(self) -> None:
        """Forget every cache; sources built afterwards start afresh."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class _Entry(NamedTuple):
    """One shared cache and the bridge to the event loop it lives on."""

    cache: Reuse
    bridge: LoopBridge


_DEFAULT_STORE = SharedStore()


def default_store() -> SharedStore:
    """The process-wide store used when ``InMemoryShared`` is given none."""
    return _DEFAULT_STORE


class InMemoryShared(AsyncClosing):
    """A token source whose token is shared by every source with the same identity.

    Sources built separately — in different modules, by different
    libraries — that would receive interchangeable tokens (same token URL,
    client id, authentication method, scopes, audience and other
    parameters, and credential; see ``cache_identity``) share one cached
    token and one refresh: however many of them ask at once, the token
    endpoint sees one request. Sources that differ in any of these never
    share.

    The first source registered under an identity does the refreshing for
    the whole group, so keep it open while others use the group (closing a
    later one closes only that one's own resources). Works on asyncio and
    trio, and across threads that each run their own event loop: the group's
    cache lives on the first loop that asks for the token, and callers on
    other loops are served there (through a worker thread, so their own loop
    keeps running), still one request per refresh for the whole process.
    That home loop must keep running while others use the group; when it
    has ended, the next caller's loop becomes the home. The cache follows
    ``reuse()``: hot path without I/O, single flight, soft window,
    ``invalidate`` of a rejected token.

    Args:
        source: the source to share; usually ``buffer(retry(ClientCredentials(...)))``.
        key: a name for the shared token instead of the source's
            ``cache_identity`` (required for sources without one); the same
            key means the same token, so choose it as carefully.
        store: the registry to share through; ``default_store()`` if None.
        skew: see ``reuse()``; the first registration's setting wins.
        clock: see ``reuse()``; the first registration's setting wins.

    Raises:
        ConfigError: no ``key`` and the source has no ``cache_identity``.
    """

    __slots__ = ("_bridge", "_cache", "_identity", "_source")

    def __init__(
        self,
        source: TokenSource,
        *,
        key: str | None = None,
        store: SharedStore | None = None,
        skew: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self._identity = shared_identity(source, key)
        self._source = source
        store = store if store is not None else _DEFAULT_STORE
        self._cache, self._bridge = store.entry(self._identity, source, skew=skew, clock=clock)

    @property
    def identity(self) -> str:
        """The identity this source shares its token under (not secret)."""
        return self._identity

    async def token(self) -> Token:
        """Return the shared token, refreshing it first if it is due.

        Concurrency and cancellation: safe for any number of concurrent
        callers across every source of the group; one of them refreshes and
        the others wait for (or, in the soft window, do without) its result.
        Cancelling a caller affects only that caller. Callers on another
        event loop than the group's home wait in a worker thread; cancelling
        one abandons its wait.

        Raises:
            Exception: whatever the refreshing source raised, when no usable
                token is cached.
        """
        if self._bridge.at_home():
            return await self._cache.token()  # the hot path: one thread-id compare
        return await self._bridge.acall(self._cache.token)

    def invalidate(self, token: Token) -> None:
        """Drop the shared token if it is ``token`` (for the whole group)."""
        self._cache.invalidate(token)

    async def aclose(self) -> None:
        """Close this source's own inner source (if it owns resources)."""
        await aclose_source(self._source)

    def __repr__(self) -> str:
        return f"InMemoryShared({self._source!r}, identity={self._identity[:12]!r})"
