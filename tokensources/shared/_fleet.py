"""The fleet level of RedisShared: one refresh per fleet, through the store.

``FleetSource`` is the source that ``RedisShared``'s in-process cache calls
on a miss. It reads the shared value, and when there is no fresh one, one
process in the fleet takes the lock and fetches while the others wait for
the value to appear.

When the store fails, a process that still holds a valid token keeps it:
the refresh fails (the cache keeps serving the token and tries again after
its backoff), so a short outage — a failover, a restart — costs no token
request at all. Only a process whose token would run out before the cache
tries again fetches directly; a caller never fails only because the store
did.

Waiters poll with a backoff (10 ms growing to 100 ms) instead of
subscribing to pub/sub: it works the same on one server and on a cluster,
cannot miss a message, and only one task per process polls.
"""

from __future__ import annotations

import logging
from collections import deque

import anyio

from .._cache import MAX_FAILURE_BACKOFF
from .._errors import TokenSourceError
from .._log import logger
from .._source import Clock, EventHook, EventKind, TokenEvent, TokenSource
from .._token import Token
from ..wrappers._hooks import count_event
from ..wrappers._policy import SKEW_FRACTION
from ._cooldown import CooldownReporter, cooldown_error
from ._guard import RedisUnavailable
from ._lifetime import stored_ttl, with_refresh_point
from ._locations import Location, Locations, View, fresh
from ._lock import lock_owner
from ._store import Store

__all__ = ["FleetSource", "StoreUnavailableError"]

_POLL_FIRST, _POLL_FACTOR, _POLL_MAX = 0.01, 1.5, 0.1
_REMEMBER_REJECTED = 8
# A token kept through an outage must outlive the cache's longest backoff
# (its next attempt), with room to spare: otherwise fetch directly now.
_KEEP_MARGIN = 2 * MAX_FAILURE_BACKOFF


class StoreUnavailableError(TokenSourceError):
    """The shared store failed while this process holds a token valid for a while yet.

    Never raised to callers: ``RedisShared``'s cache keeps serving that
    token and tries again after its backoff; the error only reaches logs
    and ``refresh_failed`` events.
    """

    _transient = True


class FleetSource:
    """Fetches through the store so that a whole fleet makes one request per refresh.

    Not meant to be used alone: ``RedisShared`` puts a ``reuse()`` cache in
    front of it, which guarantees one call at a time per process.
    """

    def __init__(
        self,
        source: TokenSource,
        store: Store,
        places: tuple[Location, ...],
        *,
        lock_timeout: float,
        wait_timeout: float,
        skew: float,
        clock: Clock,
        on_event: EventHook | None,
    ) -> None:
        self._source = source
        self._store = store
        self._at = Locations(store, places, lock_timeout)
        self._lock_timeout = lock_timeout
        self._wait_timeout = wait_timeout
        self._skew = skew
        self._clock = clock
        self._on_event = on_event
        self._rejected: deque[str] = deque(maxlen=_REMEMBER_REJECTED)
        self._cooldowns = CooldownReporter(
            source, self._at.record_cooldown, lambda error: self._emit("cooldown", error=error)
        )
        self._last: Token | None = None
        self._outage: str | None = None

    @property
    def source(self) -> TokenSource:
        """The inner source that fetches tokens."""
        return self._source

    async def token(self) -> Token:
        """A fresh token from the store, or fetched by this process for the fleet.

        Concurrency and cancellation: meant to be called by one task at a
        time per process (the cache in front ensures it); any number of
        processes may call it at once. A caller cancelled while holding the
        lock releases it on the way out.

        Raises:
            ConfigError: the client cannot run here (redis-py under trio, a
                coredis client that is not open).
            StoreUnavailableError: the store failed and the last token is
                still valid long enough to keep (the cache serves it).
        """
        self._store.commands.check_runnable()
        try:
            token = await self._through_store()
        except RedisUnavailable as failure:
            token = await self._without_store(failure)
        else:
            if self._outage is not None:
                logger.info("Redis answers again; sharing the token resumes")
                self._outage = None
        self._last = token
        return token

    def invalidate(self, token: Token) -> None:
        """Remember that ``token`` was rejected, so a stored copy is not used again."""
        self._rejected.append(token.access_token)
        if self._last is not None and self._last.access_token == token.access_token:
            self._last = None
        self._source.invalidate(token)

    async def _without_store(self, failure: RedisUnavailable) -> Token:
        """Keep the last token through the outage if it lasts long enough, else fetch directly."""
        cause = self._at.guard.describe(failure)
        kept = self._keepable()
        self._log_outage(failure, cause, kept=kept)
        if kept:
            raise StoreUnavailableError(
                f"Redis unavailable ({cause}); the valid token is kept until Redis answers"
            ) from None
        self._emit("fallback", error=failure.__cause__)
        return await self._source.token()

    def _keepable(self) -> bool:
        last = self._last
        if last is None:
            return False
        if last.expires_at is None:
            return True
        return last.expires_at - self._skew - self._clock() > _KEEP_MARGIN

    def _log_outage(self, failure: RedisUnavailable, cause: str, *, kept: bool) -> None:
        """Log an outage once per cause (then quietly); a refusal of the client as an error.

        A kept token's failed refresh is logged by the cache, with this
        cause in its message: only a refusal adds a line of its own then.
        """
        repeated = cause == self._outage
        self._outage = cause
        error = failure.__cause__
        denied = error is not None and self._store.commands.denied(error)
        if repeated or (kept and not denied):
            level = logging.DEBUG
        else:
            # A client the server refuses will not get better by itself: an error.
            level = logging.ERROR if denied else logging.WARNING
        hint = " (check the client's credentials and ACL)" if denied else ""
        action = "keeping the valid token" if kept else "fetching directly"
        logger.log(level, "Redis unavailable (%s)%s; %s", cause, hint, action)

    async def _through_store(self) -> Token:
        view, now = await self._read()
        deadline = anyio.current_time() + self._wait_timeout
        delay = _POLL_FIRST
        waited = False
        while True:
            token = view.token
            if token is not None and fresh(token, now):
                return token
            if token is not None and not self._serveable(token):
                token = None  # valid when read, but too close to expiry to hand out
            if view.cooldown > 0:
                if token is not None:
                    return token  # the soft window: keep using it, ask nobody
                await self._sit_out(view, deadline)
            elif not view.locked:
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
            view, now = await self._read()

    def _serveable(self, token: Token) -> bool:
        """Whether a due token may still be handed out, on the clock read now.

        The read was placed on the clock before its round trip; a token
        within a small margin of expiry (a tenth of its soft window, at most
        ``skew``) after it would reach the cache spent. Waiting for the
        refresh under way is then the right thing, not handing it out.
        """
        if token.expires_at is None:
            return True
        lead = token.expires_at - (token.refresh_at or token.expires_at)
        margin = min(self._skew, lead * SKEW_FRACTION)
        return token.expires_at - self._clock() > margin

    async def _read(self) -> tuple[View, float]:
        """What the store holds, and this process's clock read just before it was."""
        # Before, not after: a remaining TTL put on a clock read earlier
        # ends earlier, never later (see _lifetime.localise).
        now = self._clock()
        return await self._at.read(now, self._rejected), now

    async def _sit_out(self, view: View, deadline: float) -> None:
        """Wait for a fleet-wide cooldown to end, or raise if it outlasts our wait."""
        self._emit("cooldown")
        left = deadline - anyio.current_time()
        if view.cooldown > left:
            raise cooldown_error(view.cooldown, view.cooldown_status)
        logger.info("token endpoint cooldown: waiting %.1fs before refreshing", view.cooldown)
        await anyio.sleep(view.cooldown)

    async def _refresh_under_lock(self) -> Token | None:
        """Take the lock and refresh; None if the lock was taken by someone else first."""
        owner = lock_owner()
        # None until the store answers: a caller cancelled (or timed out)
        # while SET NX is in flight may hold the lock without knowing it.
        taken: bool | None = None
        try:
            taken = await self._at.lock(owner)
            if not taken:
                return None
            # Another process may have stored a token (or hit a cooldown)
            # between our read and our lock.
            view, now = await self._read()
            if view.token is not None and fresh(view.token, now):
                return view.token
            if view.cooldown > 0:
                return None
            return await self._fetch_and_store(owner)
        finally:
            if taken is not False:
                # Shielded so that a cancelled holder still lets go, but
                # bounded: if the store does not answer, the lock's TTL does.
                # Compare-and-delete, so a lock we never got is left alone.
                with anyio.move_on_after(self._lock_timeout, shield=True):
                    await self._at.release(owner)

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
        now = self._clock()
        token = with_refresh_point(outcome, now, self._skew)
        ttl = stored_ttl(token, now)
        if ttl > 0:
            await self._at.store(token, ttl)
        return token

    async def _keep_lock(self, owner: str, scope: anyio.CancelScope) -> None:
        """Extend the lock while the fetch runs; stop when it ends or the lock is lost."""
        with scope:
            while True:
                await anyio.sleep(self._lock_timeout / 3)
                try:
                    kept = await self._at.renew(owner)
                except RedisUnavailable as failure:
                    logger.warning(
                        "could not extend the refresh lock (%s)", self._at.guard.describe(failure)
                    )
                    continue
                if not kept:
                    logger.warning("lost the refresh lock; another process may refresh too")
                    return

    def _emit(self, kind: EventKind, *, error: BaseException | None = None) -> None:
        count_event(kind)
        hook = self._on_event
        if hook is None:
            return
        try:
            hook(TokenEvent(kind, "redis", None, error))
        except Exception:
            logger.exception("on_event hook raised on %s; ignored", kind)
