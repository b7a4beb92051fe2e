"""RedisShared: one token, one refresh, for a whole fleet of processes and hosts."""

from __future__ import annotations

import time
from collections.abc import Sequence

from .._closing import AsyncClosing
from .._identity import shared_identity
from .._source import Clock, EventHook, TokenSource, aclose_source
from .._token import Token
from ..wrappers import Reuse, reuse
from ..wrappers._checks import check_seconds
from ._commands import RedisClient, commands_for
from ._envelope import encryption_keys
from ._fleet import FleetSource
from ._locations import build_locations
from ._store import Store

__all__ = ["RedisShared"]


class RedisShared(AsyncClosing):
    """A token source whose token is shared by a whole fleet through Redis.

    Two levels. In each process, a ``reuse()`` cache answers while its token
    is fresh, without any Redis command. On a miss the process reads Redis
    (one round trip); when Redis has no fresh token, one process of the
    fleet takes a lock (``SET NX PX`` with an owner token, released by
    compare-and-delete) and fetches, while the others poll for the new value
    with a backoff instead of fetching. A lock holder that dies lets go when
    ``lock_timeout`` ends. In the soft window before expiry, processes that
    find the lock taken keep using their still-valid token.

    Clients: the client object chooses how Redis is spoken to. Supported
    are ``redis.asyncio`` (``Redis``, ``RedisCluster``, and the ``Redis``
    that ``Sentinel.master_for()`` returns), ``valkey.asyncio`` (the same
    for Valkey) and ``coredis`` (``Redis``, ``RedisCluster``,
    ``Sentinel.primary_for()``), each an optional extra. redis-py and
    valkey-py run on asyncio only: under trio, ``token()`` raises
    ``ConfigError`` naming coredis on its first call. coredis runs on both,
    with the same guarantees; enter its client (``async with client:``)
    around the code that uses this source, as coredis requires.

    Failure handling (a caller never fails only because Redis did):

    * Redis unreachable or failing (refused, timed out, a replica answering
      ``READONLY``, a failover under way): a process whose token is still
      valid for a while keeps it, and tries Redis again after the cache's
      backoff, so a short outage costs no token request at all; a process
      without one fetches directly (still once per process, thanks to the
      in-process cache). Sharing resumes by itself when Redis answers
      again. A failover may lose the lock or the token the old master had
      not yet passed on: that costs one extra token request, never a
      failed call. Each cause is logged once (a server refusing the
      client's credentials as an error), without the client's password.
      Each command is bounded by ``redis_timeout``, so a Redis that accepts
      connections but does not answer delays a refresh by about that long,
      never indefinitely.
    * A server that refuses scripts (an ACL without ``EVAL``, a disabled
      command): the same operations run as plain commands (a warning says
      so once); scripts are tried again five minutes later.
    * Values that are corrupt, sealed with another key, written for
      another identity or stored without an expiry are ignored and
      replaced, never returned.
    * Clocks: a stored token's remaining lifetime is Redis's own TTL of the
      value, so each process decides expiry on its own clock; the instants
      in the value (on its writer's clock) only ever make it earlier. A
      process whose clock is wrong can make the others refresh early,
      never serve a token past its expiry.
    * A token endpoint error with ``Retry-After`` (429, 503) is recorded as a
      fleet-wide cooldown as soon as any attempt sees it: every ``retry()``
      in the chain of ``source`` (found through ``.source``) is observed
      while this process refreshes, so the fleet hears of it before that
      ``retry()`` waits it out. Processes with a valid token keep it; the
      others wait the cooldown out when it ends within ``wait_timeout``,
      and otherwise raise a transient ``TokenEndpointError`` carrying the
      time left as ``retry_after``, without contacting the endpoint. A
      cooldown lasts 300 seconds at most, whoever wrote it: a longer one
      found in Redis is cut to that, and one that no process could have
      written (no HTTP error status, or no expiry) is ignored and logged.
      Likewise a lock found without an expiry is given ``lock_timeout``.
    * The lock holder extends its lock every third of ``lock_timeout``
      while its fetch runs, so slow retries never let a second process in;
      only a holder that stops running (killed, frozen) loses the lock.
    * ``invalidate(token)`` drops the local copy and makes this process
      ignore that token in Redis, so its next call refreshes the fleet.

    Args:
        source: the source that fetches tokens, usually
            ``buffer(retry(ClientCredentials(...)))``. A ``reuse()`` around
            it is unwrapped (this class brings its own).
        redis: a client of ``redis.asyncio``, ``valkey.asyncio`` or
            ``coredis`` (see above).
        key: a name for the shared token instead of the source's
            ``cache_identity`` (required for sources without one).
        namespace: the prefix of every key.
        encryption_key: a 16, 24 or 32 byte AES key, or several for a
            rotation. Stored tokens are then sealed with AES-GCM and bound
            to their identity, and the key names carry an HMAC of the
            identity under the key instead of the identity itself. With
            several keys, each has its own key names: the token is read
            from the first that holds a fresh one, and locked and stored
            under all of them (each sealed with its own key), so processes
            on ``[old]``, ``[new, old]`` and ``[new]`` share one token and
            one refresh at every step of a rotation. ``redis_key`` names
            the first key's.
        redis_timeout: seconds each Redis command may take before Redis
            counts as unavailable (and the process fetches directly).
        lock_timeout: seconds the refresh lock lives without being
            extended; its holder extends it while alive, so this is how long
            a dead holder blocks the fleet.
        wait_timeout: seconds a process waits for another's refresh before
            fetching itself; defaults to twice ``lock_timeout``.
        skew: see ``reuse()``.
        clock: wall-clock time in epoch seconds, for token expiry.
        on_event: receives ``TokenEvent``s of both levels: ``lock_wait``,
            ``fallback`` and ``cooldown`` come from the Redis level.

    Raises:
        ConfigError: a setting is out of range, ``redis`` is not a
            supported client (the message names them), or the source has no
            identity and no ``key`` is given.
    """

    __slots__ = ("_cache", "_fleet", "_identity", "_redis_key")

    def __init__(
        self,
        source: TokenSource,
        redis: RedisClient,
        *,
        key: str | None = None,
        namespace: str = "tokensources",
        encryption_key: bytes | Sequence[bytes] | None = None,
        redis_timeout: float = 1.0,
        lock_timeout: float = 10.0,
        wait_timeout: float | None = None,
        skew: float = 10.0,
        clock: Clock = time.time,
        on_event: EventHook | None = None,
    ) -> None:
        commands = commands_for(redis)
        check_seconds("redis_timeout", redis_timeout, positive=True)
        check_seconds("lock_timeout", lock_timeout, positive=True)
        if wait_timeout is None:
            wait_timeout = 2 * lock_timeout
        check_seconds("wait_timeout", wait_timeout)
        inner = source.source if isinstance(source, Reuse) else source
        self._identity = shared_identity(inner, key)
        places = build_locations(namespace, self._identity, encryption_keys(encryption_key))
        self._redis_key = places[0].keys.token
        self._fleet = FleetSource(
            inner,
            Store(commands, float(redis_timeout)),
            places,
            lock_timeout=float(lock_timeout),
            wait_timeout=float(wait_timeout),
            skew=float(skew),
            clock=clock,
            on_event=on_event,
        )
        self._cache = reuse(self._fleet, skew=skew, clock=clock, on_event=on_event)

    @property
    def identity(self) -> str:
        """The identity this source shares its token under (not secret)."""
        return self._identity

    @property
    def redis_key(self) -> str:
        """The Redis key holding the shared token (for operators and tests)."""
        return self._redis_key

    async def token(self) -> Token:
        """Return the fleet's token, refreshing it for the fleet first if it is due.

        Concurrency and cancellation: safe for any number of concurrent
        callers; in each process one of them talks to Redis at a time, and
        in the fleet one process fetches at a time. Cancelling a caller
        affects only that caller; a cancelled lock holder releases the lock.

        Raises:
            ConfigError: the client cannot run here: redis-py or valkey-py
                under trio, or a coredis client that is not open (on a
                local miss, which the first call always is).
            TokenSourceError: no token could be had (whatever the inner
                source raised, or a fleet-wide cooldown with no valid token).
        """
        # The client's checks are made where Redis is used (on a local
        # miss), so that the hot path stays one compare.
        return await self._cache.token()

    def invalidate(self, token: Token) -> None:
        """Drop ``token`` here and stop using its copy in Redis (see the class docstring)."""
        self._cache.invalidate(token)

    async def aclose(self) -> None:
        """Close the inner source (if it owns resources); the Redis client is yours to close."""
        await aclose_source(self._fleet.source)

    def __repr__(self) -> str:
        return f"RedisShared({self._fleet.source!r}, key={self._redis_key!r})"
