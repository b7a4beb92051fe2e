"""The refresh lock of one shared token: take it, extend it, release it.

Every operation touches only the keys of one identity, which share a hash
tag, so each script runs in one Redis Cluster slot. Plain ``EVAL`` is used
(not ``EVALSHA``) because it behaves the same on a single server and on a
cluster, and the scripts are a few dozen bytes.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, TypeAlias

from ._redis_keys import RedisKeys

if TYPE_CHECKING:
    # Only for type checkers: redis is an optional extra, never imported here at run time.
    from redis.asyncio import Redis, RedisCluster

__all__ = ["RedisClient", "lock_owner", "release", "renew", "to_ms", "try_lock"]

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

RedisClient: TypeAlias = "Redis | RedisCluster"
"""``redis.asyncio.Redis`` or ``redis.asyncio.RedisCluster`` (redis is an optional extra)."""


def lock_owner() -> str:
    """A fresh lock owner token: host and pid for operators, random for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


async def try_lock(redis: RedisClient, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Take the refresh lock for ``timeout`` seconds if nobody holds it."""
    return bool(await redis.set(keys.lock, owner, nx=True, px=to_ms(timeout)))


async def release(redis: RedisClient, keys: RedisKeys, owner: str) -> bool:
    """Release the lock if ``owner`` still holds it; True if it was released."""
    return bool(await redis.eval(_RELEASE, 1, keys.lock, owner))


async def renew(redis: RedisClient, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Extend the lock to ``timeout`` seconds from now if ``owner`` still holds it."""
    return bool(await redis.eval(_RENEW, 1, keys.lock, owner, to_ms(timeout)))


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds for ``PX``/``PEXPIRE``, at least 1."""
    return max(1, round(seconds * 1000))
