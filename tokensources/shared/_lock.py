"""The refresh lock of one shared token: take it, extend it, release it.

Every operation touches only the keys of one identity, which share a hash
tag, so each script runs in one Redis Cluster slot. Plain ``EVAL`` is used
(not ``EVALSHA``) because it behaves the same on a single server and on a
cluster, and the scripts are a few dozen bytes.

Where the server refuses scripts, compare-and-delete and compare-and-extend
become ``GET`` then ``DEL`` (or ``PEXPIRE``). Between the two, the lock may
expire and be taken by another process, whose lock is then deleted (or
extended). That costs what a lost lock costs, one extra token request at
most, never a failed call; and it takes a holder that outlived its lock
(``lock_timeout``) by the length of one round trip.
"""

from __future__ import annotations

import os
import secrets
import socket

from ._redis_keys import RedisKeys
from ._store import Store

__all__ = ["lock_owner", "release", "renew", "to_ms", "try_lock"]

# Compare-and-delete: a holder whose lock expired and was taken over must not
# delete the new holder's lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Compare-and-extend: a live holder keeps its lock, never someone else's.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def lock_owner() -> str:
    """A fresh lock owner token: host and pid for operators, random for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


async def try_lock(store: Store, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Take the refresh lock for ``timeout`` seconds if nobody holds it (``SET NX PX``)."""
    return await store.commands.set(keys.lock, owner.encode(), to_ms(timeout), only_if_absent=True)


async def release(store: Store, keys: RedisKeys, owner: str) -> bool:
    """Release the lock if ``owner`` still holds it; True if it was released."""

    async def plain() -> bool:
        if await store.commands.get(keys.lock) != owner.encode():
            return False
        return await store.commands.delete(keys.lock)

    return bool(await store.script(_RELEASE, [keys.lock], [owner], plain))


async def renew(store: Store, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Extend the lock to ``timeout`` seconds from now if ``owner`` still holds it."""

    async def plain() -> bool:
        if await store.commands.get(keys.lock) != owner.encode():
            return False
        return await store.commands.pexpire(keys.lock, to_ms(timeout))

    return bool(await store.script(_RENEW, [keys.lock], [owner, to_ms(timeout)], plain))


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds for ``PX``/``PEXPIRE``, at least 1."""
    return max(1, round(seconds * 1000))
