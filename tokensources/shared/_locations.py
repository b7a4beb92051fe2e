"""Where a shared token lives: one set of keys per encryption key, for key rotation.

Without encryption, or with one key, a token has one location (its value,
lock and cooldown keys; see ``RedisKeys``). With several keys, for the
window of a rotation, it has one location per key, the key names tagged by
an HMAC under that key and the value sealed with it. A process then:

* reads its locations in order until one holds a fresh token (the first is
  enough once the fleet has one: one round trip, as with one key);
* takes the lock at every location, in one order for the whole fleet
  (sorted names), and holds it only if it got all of them;
* stores each new token at every location, each sealed with its own key.

So a process on ``[old]`` and one on ``[new, old]`` share the location of
``old`` (its lock and its value); one on ``[new, old]`` and one on
``[new]`` share that of ``new``. Every step of a rotation (``[old]`` →
``[new, old]`` → ``[new]``) thus keeps one token and one refresh per
fleet, and values at a location nobody uses any more expire with their TTL.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import NamedTuple

from .._log import logger
from .._token import Token
from ._envelope import Envelope
from ._guard import Guard
from ._lifetime import localise
from ._lock import release, renew, to_ms, try_lock
from ._redis_keys import RedisKeys
from ._state import RedisState, read_state, record_cooldown
from ._store import Store

__all__ = ["Location", "Locations", "View", "build_locations"]


@dataclass(frozen=True, slots=True)
class Location:
    """The keys of one location and the envelope of its values."""

    keys: RedisKeys
    envelope: Envelope

    def usable(self, state: RedisState, now: float, rejected: Container[str]) -> Token | None:
        """The stored token on the reader's clock, if it opens, is not rejected and is valid."""
        token = self.envelope.open(state.value)
        if token is None or token.access_token in rejected:
            return None
        token = localise(token, state.ttl, now)
        return None if token.expired(now) else token


def build_locations(namespace: str, identity: str, keys: tuple[bytes, ...]) -> tuple[Location, ...]:
    """The locations of ``identity``: one in the clear, or one per distinct key, in order."""
    if not keys:
        return (Location(RedisKeys.build(namespace, identity), Envelope(identity)),)
    distinct = tuple(dict.fromkeys(keys))
    return tuple(
        Location(RedisKeys.build(namespace, identity, key), Envelope(identity, (key,)))
        for key in distinct
    )


class View(NamedTuple):
    """What a process makes of its locations at one instant."""

    token: Token | None
    """The best usable token found (a fresh one if any), on the reader's clock."""
    locked: bool
    """Whether a lock is held at any location read."""
    cooldown: float
    """Seconds left of the longest cooldown found (0 when none)."""
    cooldown_status: int
    """The HTTP status that started that cooldown."""


def fresh(token: Token, now: float) -> bool:
    """Whether ``token`` is before its refresh point at ``now``."""
    return token.refresh_at is None or now < token.refresh_at


class Locations:
    """Every operation of the fleet level, at every location, each bounded by the guard.

    Args:
        store: the store (commands and scripts).
        places: the locations, the first one first.
        lock_timeout: the lock's lifetime unless extended.
    """

    __slots__ = ("_lock_timeout", "_places", "_problem", "_store")

    def __init__(self, store: Store, places: tuple[Location, ...], lock_timeout: float) -> None:
        self._store = store
        self._places = places
        self._lock_timeout = lock_timeout
        self._problem: str | None = None

    @property
    def guard(self) -> Guard:
        """The guard bounding every operation."""
        return self._store.guard

    @property
    def first(self) -> RedisKeys:
        """The keys of the first location (the one named by ``RedisShared.redis_key``)."""
        return self._places[0].keys

    async def read(self, now: float, rejected: Container[str]) -> View:
        """Read the locations in order, stopping at the first holding a fresh token.

        Raises:
            RedisUnavailable: a read failed.
        """
        best: Token | None = None
        locked, cooldown, status = False, 0.0, 429
        for place in self._places:
            state = await self.guard.call(read_state(self._store, place.keys, self._lock_timeout))
            self._note(state.problem)
            token = place.usable(state, now, rejected)
            locked = locked or state.locked
            if state.cooldown > cooldown:
                cooldown, status = state.cooldown, state.cooldown_status
            if token is not None and (best is None or _better(token, best, now)):
                best = token
            if best is not None and fresh(best, now):
                break
        return View(best, locked, cooldown, status)

    async def lock(self, owner: str) -> bool:
        """Take the lock at every location (in name order); False, and none kept, if one is held.

        A caller that may have sent a ``SET NX`` must call ``release`` on
        the way out, whatever this returned or raised.

        Raises:
            RedisUnavailable: a command failed (some locks may be held).
        """
        for keys in sorted((place.keys for place in self._places), key=lambda k: k.lock):
            if not await self.guard.call(try_lock(self._store, keys, owner, self._lock_timeout)):
                await self.release(owner)
                return False
        return True

    async def release(self, owner: str) -> None:
        """Release ``owner``'s lock at every location (compare-and-delete); failures are logged."""
        for place in self._places:
            await self.guard.quietly(release(self._store, place.keys, owner), "release the lock")

    async def renew(self, owner: str) -> bool:
        """Extend ``owner``'s lock everywhere; False if it was lost at any location.

        Raises:
            RedisUnavailable: a command failed.
        """
        kept = True
        for place in self._places:
            kept = kept and await self.guard.call(
                renew(self._store, place.keys, owner, self._lock_timeout)
            )
        return kept

    async def store(self, token: Token, ttl: float) -> None:
        """Store ``token`` for ``ttl`` seconds at every location, sealed for each."""
        for place in self._places:
            value = place.envelope.seal(token)
            await self.guard.quietly(
                self._store.commands.set(place.keys.token, value, to_ms(ttl), only_if_absent=False),
                "store the token",
            )

    async def record_cooldown(self, seconds: float, status: int) -> None:
        """Record a fleet-wide cooldown at every location; failures are logged."""
        for place in self._places:
            await self.guard.quietly(
                record_cooldown(self._store, place.keys, seconds, status), "record the cooldown"
            )

    def _note(self, problem: str | None) -> None:
        if problem != self._problem:
            self._problem = problem  # logged once, not at every poll
            if problem is not None:
                logger.warning("ignored a cooldown found in Redis: %s", problem)


def _better(token: Token, other: Token, now: float) -> bool:
    """Whether ``token`` serves better than ``other``: fresh first, then the later expiry."""
    if fresh(token, now) != fresh(other, now):
        return fresh(token, now)
    if other.expires_at is None:
        return False
    return token.expires_at is None or token.expires_at > other.expires_at
