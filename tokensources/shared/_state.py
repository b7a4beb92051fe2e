"""What Redis holds for one shared token, read in one round trip and bounded before use.

Anything with write access to Redis can write these keys, not only the
fleet, so nothing read here is believed beyond what a fleet member would
have written:

* the value's remaining lifetime is Redis's own ``PTTL``, counted down on
  Redis's clock (``_lifetime.localise`` puts it on the reader's); a value
  without an expiry was not written by a member (each sets one) and is
  ignored, so that it gets replaced;
* a value, or a cooldown, is read only if it is a string of a size a member
  writes: a larger one is not sent over the network at all, and a key of
  another type (on which ``GET`` fails) is treated as absent rather than as
  Redis failing, so that it gets replaced instead of stopping the sharing;
* a lock without an expiry was not taken by a member either (each takes it
  with ``PX``): the read gives it ``lock_timeout``, so it ends;
* a cooldown is capped at ``MAX_COOLDOWN`` in Redis itself, by the read, so
  the cap bounds its whole length and not only what is left at each read;
  a cooldown whose value is not an HTTP error status, or that has no
  expiry, is not one a member wrote: it is treated as absent and reported.

One script reads all of it in one round trip; where the server refuses
scripts, ``_plain_read`` sends the same commands one by one and answers in
the same form (no longer one atomic snapshot: each part is still bounded,
and a state seen half-old costs a poll, never a wrong token).
"""

from __future__ import annotations

from typing import NamedTuple

from ._envelope import MAX_VALUE_BYTES
from ._lock import to_ms
from ._redis_keys import RedisKeys
from ._store import Store

__all__ = ["MAX_COOLDOWN", "RedisState", "parse_state", "read_state", "record_cooldown"]

MAX_COOLDOWN = 300.0
"""Seconds: the longest fleet-wide cooldown, whoever asks for a longer one."""

# A cooldown holds a three-digit status; a little room, no more.
_MAX_COOLDOWN_BYTES = 16
# KEYS: token, lock, cooldown. ARGV: lock_timeout and MAX_COOLDOWN in ms, the
# largest value and cooldown in bytes. The integers come first: a string not
# read is Lua `false` (a nil in the reply), and Lua drops trailing nils, so
# the reply may be shorter.
_READ_STATE = """
local function small_string(key, limit)
  if redis.call('TYPE', key).ok ~= 'string' then return false end
  if redis.call('STRLEN', key) > tonumber(limit) then return false end
  return redis.call('GET', key)
end
local lock_ttl = redis.call('PTTL', KEYS[2])
if lock_ttl == -1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  lock_ttl = tonumber(ARGV[1])
end
local cooldown_ttl = redis.call('PTTL', KEYS[3])
if cooldown_ttl > tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  cooldown_ttl = tonumber(ARGV[2])
end
return {redis.call('PTTL', KEYS[1]), lock_ttl, cooldown_ttl,
        small_string(KEYS[1], ARGV[3]), small_string(KEYS[3], ARGV[4])}
"""
# PTTL's answers for a key that does not exist, and for one without expiry.
_MISSING, _PERSISTENT = -2, -1


class RedisState(NamedTuple):
    """What Redis holds for one identity at one instant, bounded."""

    value: bytes | None
    """The stored value; None when absent or without an expiry (not a member's)."""
    ttl: float
    """Seconds Redis keeps ``value`` (0 when there is none)."""
    locked: bool
    cooldown: float
    """Seconds left of a fleet-wide cooldown, at most ``MAX_COOLDOWN`` (0 when none)."""
    cooldown_status: int
    """The HTTP status that started the cooldown."""
    problem: str | None = None
    """Why a cooldown found in Redis was ignored (for a log line), or None."""


async def read_state(store: Store, keys: RedisKeys, lock_timeout: float) -> RedisState:
    """Read the value, its TTL, the lock and the cooldown (atomically where scripts run).

    ``lock_timeout`` is the expiry given to a lock found without one.
    """
    key_names = [keys.token, keys.lock, keys.cooldown]
    limits = [to_ms(lock_timeout), to_ms(MAX_COOLDOWN), MAX_VALUE_BYTES, _MAX_COOLDOWN_BYTES]

    async def plain() -> list[object]:
        return await _plain_read(store, keys, limits)

    reply = await store.script(_READ_STATE, key_names, limits, plain)
    return parse_state(list(reply) if isinstance(reply, (list, tuple)) else [])


async def _plain_read(store: Store, keys: RedisKeys, limits: list[int]) -> list[object]:
    """What ``_READ_STATE`` answers, from plain commands (for servers refusing scripts)."""
    lock_ms, max_cooldown_ms, max_value, max_status = limits
    commands = store.commands
    lock_ttl = await commands.pttl(keys.lock)
    if lock_ttl == _PERSISTENT:
        await commands.pexpire(keys.lock, lock_ms)
        lock_ttl = lock_ms
    cooldown_ttl = await commands.pttl(keys.cooldown)
    if cooldown_ttl > max_cooldown_ms:
        await commands.pexpire(keys.cooldown, max_cooldown_ms)
        cooldown_ttl = max_cooldown_ms
    value_ttl = await commands.pttl(keys.token)
    value = await _small_string(store, keys.token, max_value)
    status = await _small_string(store, keys.cooldown, max_status)
    return [value_ttl, lock_ttl, cooldown_ttl, value, status]


async def _small_string(store: Store, key: str, limit: int) -> bytes | None:
    """The string at ``key`` if it is one of at most ``limit`` bytes (else None, unread)."""
    size = await store.commands.strlen(key)
    if size is None or size == 0 or size > limit:
        return None
    value = await store.commands.get(key)
    # Replaced between the two commands by a larger one: still not taken.
    return value if value is not None and len(value) <= limit else None


def parse_state(reply: list[object]) -> RedisState:
    """The state in a reply of the read script (pure, so bad replies are easy to test)."""
    value_ms, lock_ms, cooldown_ms, value, status = (reply + [None] * 5)[:5]
    value_ttl = _milliseconds(value_ms)
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes) or value_ttl <= 0:
        value, value_ttl = None, 0
    state = RedisState(value, value_ttl / 1000.0, _milliseconds(lock_ms) != _MISSING, 0.0, 429)
    cooldown = _milliseconds(cooldown_ms)
    if cooldown in (_MISSING, 0):
        return state
    # Neither is ever written by a member, which writes a status with an expiry.
    # The value itself is not logged: anyone with write access chose it.
    code = _status(status)
    if code is None:
        return state._replace(problem="its value is not an HTTP error status")
    if cooldown == _PERSISTENT:
        return state._replace(problem="it has no expiry")
    return state._replace(cooldown=min(cooldown / 1000.0, MAX_COOLDOWN), cooldown_status=code)


async def record_cooldown(store: Store, keys: RedisKeys, seconds: float, status: int) -> None:
    """Make every process wait ``seconds`` (at most ``MAX_COOLDOWN``) before asking again."""
    ttl = to_ms(min(seconds, MAX_COOLDOWN))
    await store.commands.set(keys.cooldown, str(status).encode(), ttl, only_if_absent=False)


def _milliseconds(raw: object) -> int:
    """An integer reply of the script; anything else counts as a missing key."""
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else _MISSING


def _status(raw: object) -> int | None:
    """The HTTP error status (three digits, 4xx or above) a cooldown holds, or None."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    if not isinstance(raw, str) or not (len(raw) == 3 and raw.isascii() and raw.isdigit()):
        return None
    status = int(raw)
    return status if status >= 400 else None
