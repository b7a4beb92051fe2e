"""The fleet level of RedisShared: one refresh per fleet, through Redis.

``FleetSource`` is the source that ``RedisShared``'s in-process cache calls
on a miss. It reads the shared value, and when there is no fresh one, one
process in the fleet takes the lock and fetches while the others wait for
the value to appear. Every Redis failure turns into a direct fetch.

Waiters poll with a backoff (10 ms growing to 100 ms) instead of
subscribing to pub/sub: it works the same on one server and on a cluster,
cannot miss a message, and only one task per process polls.
"""

from __future__ import annotations

import asyncio
from collections import deque

import anyio

from .._errors import ConfigError, TokenSourceError
from .._log import logger
from .._source import Clock, EventHook, EventKind, TokenEvent, TokenSource
from .._token import Token
from ._cooldown import CooldownReporter, cooldown_error
from ._envelope import Envelope
from ._guard import Guard, RedisUnavailable, describe
from ._lifetime import localise, stored_ttl, with_refresh_point
from ._lock import RedisClient, lock_owner, release, renew, to_ms, try_lock
from ._redis_keys import RedisKeys
from ._state import RedisState, read_state

__all__ = ["FleetSource"]

_POLL_FIRST, _POLL_FACTOR, _POLL_MAX = 0.01, 1.5, 0.1
_REMEMBER_REJECTED = 8
_TRIO_MESSAGE = (
    "RedisShared runs only on asyncio: redis-py's asyncio client does not work under "
    "trio (or any event loop other than asyncio). Use InMemoryShared (which works on "
    "both), or run the code that needs the fleet-wide token on asyncio."
)


class FleetSource:
    """Fetches through Redis so that a whole fleet makes one request per refresh.

    Not meant to be used alone: ``RedisShared`` puts a ``reuse()`` cache in
    front of it, which guarantees one call at a time per process.
    """

    def __init__(
        self,
        source: TokenSource,
        redis: RedisClient,
        keys: RedisKeys,
        envelope: Envelope,
        *,
        redis_errors: tuple[type[BaseException], ...],
        redis_timeout: float,
        lock_timeout: float,
        wait_timeout: float,
        skew: float,
        clock: Clock,
        on_event: EventHook | None,
    ) -> None:
        self._source = source
        self._redis = redis
        self._keys = keys
        self._envelope = envelope
        self._guard = Guard(redis_errors, redis_timeout)
        self._lock_timeout = lock_timeout
        self._wait_timeout = wait_timeout
        self._skew = skew
        self._clock = clock
        self._on_event = on_event
        self._rejected: deque[str] = deque(maxlen=_REMEMBER_REJECTED)
        self._cooldowns = CooldownReporter(
            source, redis, keys, self._guard, lambda error: self._emit("cooldown", error=error)
        )
        self._problem: str | None = None

    @property
    def source(self) -> TokenSource:
        """The inner source that fetches tokens."""
        return self._source

    async def token(self) -> Token:
        """A fresh token from Redis, or fetched by this process for the fleet.

        Concurrency and cancellation: meant to be called by one task at a
        time per process (the cache in front ensures it); any number of
        processes may call it at once. A caller cancelled while holding the
        lock releases it on the way out.

        Raises:
            ConfigError: called under trio (redis-py's asyncio client cannot run there).
        """
        _require_asyncio()
        try:
            return await self._through_redis()
        except RedisUnavailable as failure:
            logger.warning("Redis unavailable (%s); fetching the token directly", describe(failure))
            self._emit("fallback", error=failure.__cause__)
            return await self._source.token()

    def invalidate(self, token: Token) -> None:
        """Remember that ``token`` was rejected, so a stored copy is not used again."""
        self._rejected.append(token.access_token)
        self._source.invalidate(token)

    async def _through_redis(self) -> Token:
        state, now = await self._read()
        deadline = anyio.current_time() + self._wait_timeout
        delay = _POLL_FIRST
        waited = False
        while True:
            token = self._usable(state, now)
            if token is not None and self._fresh(token, now):
                return token
            if state.cooldown > 0:
                if token is not None:
                    return token  # the soft window: keep using it, ask nobody
                await self._sit_out(state, deadline)
            elif not state.locked:
                fetched = await self._refresh_under_lock()
                if fetched is not None:
                    return fetched
            elif token is not None:
                return token  # another process is refreshing; ours is still valid
            elif anyio.current_time() >= deadline:
                return await self._fetch_unlocked()
            else:
                if not waited:
                    waited = True
                    self._emit("lock_wait")
                await anyio.sleep(delay)
                delay = min(delay * _POLL_FACTOR, _POLL_MAX)
            state, now = await self._read()

    async def _read(self) -> tuple[RedisState, float]:
        """The state in Redis, and this process's clock read just before it was."""
        # Before, not after: a remaining TTL put on a clock read earlier
        # ends earlier, never later (see _lifetime.localise).
        now = self._clock()
        state = await self._guard.call(read_state(self._redis, self._keys, self._lock_timeout))
        if state.problem != self._problem:
            self._problem = state.problem  # logged once, not at every poll
            if state.problem is not None:
                logger.warning("ignored a cooldown found in Redis: %s", state.problem)
        return state, now

    async def _sit_out(self, state: RedisState, deadline: float) -> None:
        """Wait for a fleet-wide cooldown to end, or raise if it outlasts our wait."""
        self._emit("cooldown")
        left = deadline - anyio.current_time()
        if state.cooldown > left:
            raise cooldown_error(state)
        logger.info("token endpoint cooldown: waiting %.1fs before refreshing", state.cooldown)
        await anyio.sleep(state.cooldown)

    async def _refresh_under_lock(self) -> Token | None:
        """Take the lock and refresh; None if the lock was taken by someone else first."""
        owner = lock_owner()
        # None until Redis answers: a caller cancelled (or timed out) while
        # SET NX is in flight may hold the lock without knowing it.
        taken: bool | None = None
        try:
            taken = await self._guard.call(
                try_lock(self._redis, self._keys, owner, self._lock_timeout)
            )
            if not taken:
                return None
            # Another process may have stored a token (or hit a cooldown)
            # between our read and our lock.
            state, now = await self._read()
            token = self._usable(state, now)
            if token is not None and self._fresh(token, now):
                return token
            if state.cooldown > 0:
                return None
            return await self._fetch_and_store(owner)
        finally:
            if taken is not False:
                # Shielded so that a cancelled holder still lets go, but
                # bounded: if Redis does not answer, the lock's TTL does.
                # Compare-and-delete, so a lock we never got is left alone.
                with anyio.move_on_after(self._lock_timeout, shield=True):
                    await self._guard.quietly(
                        release(self._redis, self._keys, owner), "release the lock"
                    )

    async def _fetch_unlocked(self) -> Token:
        logger.warning(
            "waited %.1fs for another process to refresh the token; fetching it here",
            self._wait_timeout,
        )
        self._emit("fallback")
        return await self._fetch_and_store(None)

    async def _fetch_and_store(self, owner: str | None) -> Token:
        """Fetch for the fleet, keeping the lock (if ``owner``) and sharing cooldowns as they come.

        Two helpers run beside the fetch: one extends the lock every third
        of ``lock_timeout`` while this holder is alive, however long its
        retries take; and a ``Retry-After`` seen by any attempt is recorded
        for the fleet at once, not after the retries are spent: every
        ``Retry`` in the source's chain is observed while the fetch runs.
        """
        outcome: Token | Exception
        async with anyio.create_task_group() as tg:
            renewing = anyio.CancelScope()
            if owner is not None:
                tg.start_soon(self._keep_lock, owner, renewing)
            with self._cooldowns.during(tg) as observe:
                try:
                    outcome = await self._source.token()
                except Exception as exc:
                    # Kept, not raised here: the task group would wrap it in a group.
                    if isinstance(exc, TokenSourceError):
                        observe(exc)
                    outcome = exc
                finally:
                    renewing.cancel()
        if isinstance(outcome, Exception):
            raise outcome
        token = with_refresh_point(outcome, self._clock(), self._skew)
        await self._guard.quietly(self._store(token), "store the token")
        return token

    async def _keep_lock(self, owner: str, scope: anyio.CancelScope) -> None:
        """Extend the lock while the fetch runs; stop when it ends or the lock is lost."""
        with scope:
            while True:
                await anyio.sleep(self._lock_timeout / 3)
                try:
                    kept = await self._guard.call(
                        renew(self._redis, self._keys, owner, self._lock_timeout)
                    )
                except RedisUnavailable as failure:
                    logger.warning("could not extend the refresh lock (%s)", describe(failure))
                    continue
                if not kept:
                    logger.warning("lost the refresh lock; another process may refresh too")
                    return

    async def _store(self, token: Token) -> None:
        ttl = stored_ttl(token, self._clock())
        if ttl > 0:
            await self._redis.set(self._keys.token, self._envelope.seal(token), px=to_ms(ttl))

    def _usable(self, state: RedisState, now: float) -> Token | None:
        """The stored token on our clock, if it opens, is ours, is not rejected and is valid."""
        token = self._envelope.open(state.value)
        if token is None or token.access_token in self._rejected:
            return None
        token = localise(token, state.ttl, now)
        return None if token.expired(now) else token

    def _fresh(self, token: Token, now: float) -> bool:
        return token.refresh_at is None or now < token.refresh_at

    def _emit(self, kind: EventKind, *, error: BaseException | None = None) -> None:
        hook = self._on_event
        if hook is None:
            return
        try:
            hook(TokenEvent(kind, "redis", None, error))
        except Exception:
            logger.exception("on_event hook raised on %s; ignored", kind)


def _require_asyncio() -> None:
    """Raise ConfigError unless an asyncio event loop runs this task (trio does not)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(_TRIO_MESSAGE) from None
