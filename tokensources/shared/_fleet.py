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
import math
from collections import deque
from typing import NoReturn

import anyio

from .._errors import ConfigError, TokenEndpointError, TokenSourceError
from .._log import logger
from .._source import Clock, EventHook, EventKind, TokenEvent, TokenSource
from .._token import Token
from ..wrappers._policy import SKEW_FRACTION
from ..wrappers._retry import failure_observer
from ._envelope import Envelope
from ._guard import Guard, RedisUnavailable, describe
from ._keys import RedisKeys
from ._lock import (
    RedisClient,
    RedisState,
    lock_owner,
    read_state,
    record_cooldown,
    release,
    renew,
    to_ms,
    try_lock,
)

__all__ = ["FleetSource"]

MAX_COOLDOWN = 300.0  # a Retry-After larger than this is not honoured fleet-wide
UNKNOWN_EXPIRY_TTL = 3600.0  # how long Redis keeps a token without a known expiry
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
        state = await self._guard.call(read_state(self._redis, self._keys))
        deadline = anyio.current_time() + self._wait_timeout
        delay = _POLL_FIRST
        waited = False
        while True:
            now = self._clock()
            token = self._usable(state.value, now)
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
            state = await self._guard.call(read_state(self._redis, self._keys))

    async def _sit_out(self, state: RedisState, deadline: float) -> None:
        """Wait for a fleet-wide cooldown to end, or raise if it outlasts our wait."""
        self._emit("cooldown")
        left = deadline - anyio.current_time()
        if state.cooldown > left:
            _raise_cooldown(state)
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
            state = await self._guard.call(read_state(self._redis, self._keys))
            now = self._clock()
            token = self._usable(state.value, now)
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
        retries take; and a ``Retry-After`` seen by any attempt (a ``retry()``
        inside reports each failure) is recorded for the fleet at once, not
        after the retries are spent.
        """
        outcome: Token | Exception
        async with anyio.create_task_group() as tg:
            renewing = anyio.CancelScope()
            if owner is not None:
                tg.start_soon(self._keep_lock, owner, renewing)
            reported: set[int] = set()

            def observe(error: TokenSourceError) -> None:
                if isinstance(error, TokenEndpointError) and id(error) not in reported:
                    reported.add(id(error))
                    tg.start_soon(self._maybe_record_cooldown, error)

            reset = failure_observer.set(observe)
            try:
                outcome = await self._source.token()
            except Exception as exc:
                # Kept, not raised here: the task group would wrap it in a group.
                if isinstance(exc, TokenSourceError):
                    observe(exc)
                outcome = exc
            finally:
                failure_observer.reset(reset)
                renewing.cancel()
        if isinstance(outcome, Exception):
            raise outcome
        token = self._with_refresh_point(outcome, self._clock())
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
        now = self._clock()
        ttl = UNKNOWN_EXPIRY_TTL if token.expires_at is None else token.expires_at - now
        if ttl > 0:
            await self._redis.set(self._keys.token, self._envelope.seal(token), px=to_ms(ttl))

    async def _maybe_record_cooldown(self, exc: TokenEndpointError) -> None:
        if exc.retry_after is None or exc.retry_after <= 0 or not exc.transient:
            return
        seconds = min(exc.retry_after, MAX_COOLDOWN)
        logger.warning(
            "token endpoint answered %s with Retry-After %.1fs; the fleet waits",
            exc.status_code,
            seconds,
        )
        self._emit("cooldown", error=exc)
        await self._guard.quietly(
            record_cooldown(self._redis, self._keys, seconds, exc.status_code),
            "record the cooldown",
        )

    def _usable(self, value: bytes | None, now: float) -> Token | None:
        """The stored token if it opens, is ours, is not rejected and has not expired."""
        token = self._envelope.open(value)
        if token is None or token.access_token in self._rejected or token.expired(now):
            return None
        return token

    def _fresh(self, token: Token, now: float) -> bool:
        return token.refresh_at is None or now < token.refresh_at

    def _with_refresh_point(self, token: Token, now: float) -> Token:
        """Give the token the refresh point every process will use.

        Without ``buffer()`` the point is ``reuse()``'s own (``expires_at``
        minus the clamped skew), fixed once here so that the whole fleet
        agrees on it.
        """
        if token.expires_at is None or token.refresh_at is not None:
            return token
        lifetime = max(token.expires_at - now, 0.0)
        return token.replace(
            refresh_at=token.expires_at - min(self._skew, lifetime * SKEW_FRACTION)
        )

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


def _raise_cooldown(state: RedisState) -> NoReturn:
    raise TokenEndpointError(
        f"the token endpoint asked the fleet to wait {math.ceil(state.cooldown)}s "
        "(a Retry-After recorded in Redis by another process); no valid token meanwhile",
        status_code=state.cooldown_status,
        retry_after=state.cooldown,
    )
