"""The Redis side of one shared token: reading its state, the lock, the cooldown.

Every operation touches only the keys of one identity, which share a hash
tag, so each script runs in one Redis Cluster slot. Plain ``EVAL`` is used
(not ``EVALSHA``) because it behaves the same on a single server and on a
cluster, and the scripts are a few dozen bytes.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from ._keys import RedisKeys

if TYPE_CHECKING:
    # Only for type checkers: redis is an optional extra, never imported here at run time.
    from redis.asyncio import Redis, RedisCluster

__all__ = [
    "RedisClient",
    "RedisState",
    "lock_owner",
    "read_state",
    "record_cooldown",
    "release",
    "renew",
    "to_ms",
    "try_lock",
]

# One round trip for everything a caller needs to decide what to do.
# GET of a missing key gives Lua `false`, which keeps the table intact.
_READ_STATE = """
return {redis.call('GET', KEYS[1]), redis.call('EXISTS', KEYS[2]),
        redis.call('PTTL', KEYS[3]), redis.call('GET', KEYS[3])}
"""
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


class RedisState(NamedTuple):
    """What Redis holds for one identity at one instant."""

    value: bytes | None
    locked: bool
    cooldown: float
    """Seconds left of a fleet-wide cooldown (0 when none)."""
    cooldown_status: int
    """The HTTP status that started the cooldown (429 when unknown)."""


def lock_owner() -> str:
    """A fresh lock owner token: host and pid for operators, random for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


async def read_state(redis: RedisClient, keys: RedisKeys) -> RedisState:
    """Read the stored value, whether the lock is held, and the cooldown, atomically."""
    reply = await redis.eval(_READ_STATE, 3, keys.token, keys.lock, keys.cooldown)
    # Lua drops trailing nils, so the reply may be shorter than four.
    value, locked, cooldown_ms, status = (list(reply) + [None] * 4)[:4]
    if isinstance(value, str):
        value = value.encode()
    cooldown = max(int(cooldown_ms or 0), 0) / 1000.0
    return RedisState(value, bool(locked), cooldown, _status(status))


async def try_lock(redis: RedisClient, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Take the refresh lock for ``timeout`` seconds if nobody holds it."""
    return bool(await redis.set(keys.lock, owner, nx=True, px=to_ms(timeout)))


async def release(redis: RedisClient, keys: RedisKeys, owner: str) -> bool:
    """Release the lock if ``owner`` still holds it; True if it was released."""
    return bool(await redis.eval(_RELEASE, 1, keys.lock, owner))


async def renew(redis: RedisClient, keys: RedisKeys, owner: str, timeout: float) -> bool:
    """Extend the lock to ``timeout`` seconds from now if ``owner`` still holds it."""
    return bool(await redis.eval(_RENEW, 1, keys.lock, owner, to_ms(timeout)))


async def record_cooldown(redis: RedisClient, keys: RedisKeys, seconds: float, status: int) -> None:
    """Make every process wait ``seconds`` before asking the token endpoint again."""
    await redis.set(keys.cooldown, str(status), px=to_ms(seconds))


def _status(raw: object) -> int:
    try:
        status = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 429
    return status if 400 <= status <= 599 else 429


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds for ``PX``/``PEXPIRE``, at least 1."""
    return max(1, round(seconds * 1000))
