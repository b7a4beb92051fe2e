"""reuse(): the cache in front of a token source."""

from __future__ import annotations

import enum
import math
import time
from typing import TypeVar

from .._closing import AsyncClosing
from .._log import logger
from .._source import Clock, EventHook, TokenSource, aclose_source
from .._token import Token
from ._hooks import Hooks
from ._policy import Settings, TokenCallback, deadlines, describe_seconds, failure_delay
from ._round import Round

__all__ = ["Reuse", "reuse"]

_NEVER = -math.inf
T = TypeVar("T")


class _Unset(enum.Enum):
    """The default of ``reuse()``'s settings: "not given"."""

    UNSET = enum.auto()


_UNSET = _Unset.UNSET
_DEFAULTS = Settings(10.0, None, 1.0, time.time, None, None)


def reuse(
    source: TokenSource,
    *,
    skew: float | _Unset = _UNSET,
    max_age: float | _Unset | None = _UNSET,
    failure_backoff: float | _Unset = _UNSET,
    clock: Clock | _Unset = _UNSET,
    on_event: EventHook | _Unset | None = _UNSET,
    on_token: TokenCallback | _Unset | None = _UNSET,
) -> Reuse:
    """Cache the tokens of ``source``: one inner call per refresh, however many callers.

    See ``Reuse`` for the guarantees. Wrapping is idempotent: if ``source``
    is already a ``Reuse``, it is returned unchanged unless a setting given
    here differs from its own; then a new cache is built over *its* inner
    source (so caches never nest), with the settings given here and the
    existing cache's settings for the others.

    Args:
        source: the token source to cache.
        skew: seconds before ``expires_at`` at which a token stops being
            handed out (clock skew and request latency). Clamped to a tenth
            of the token's lifetime, so short tokens stay usable. Default 10.
        max_age: if set, no token is kept longer than this many seconds
            after it arrived, whatever its expiry. Tokens without a known
            expiry are otherwise kept until ``invalidate()``. Default None.
        failure_backoff: seconds to wait after a failed refresh in the soft
            window before trying again; doubles with each consecutive
            failure up to 30 seconds (or ``failure_backoff`` if larger), with
            a random jitter of up to half the delay. Default 1.
        clock: wall-clock time in epoch seconds. Default ``time.time``.
        on_event: called with a ``TokenEvent`` for ``refresh_started``,
            ``refresh_succeeded``, ``refresh_failed``, ``cache_miss`` (a
            caller found no usable token and waits) and ``cache_hit``. With
            a hook, every call is reported, so fresh calls take a slightly
            longer (still lock-free, I/O-free) path than without one.
            Default None.
        on_token: called once with every new token. Default None.

    Raises:
        ConfigError: a setting is out of range.
    """
    base = source._settings if isinstance(source, Reuse) else _DEFAULTS
    settings = Settings(
        _given(skew, base.skew),
        _given(max_age, base.max_age),
        _given(failure_backoff, base.failure_backoff),
        _given(clock, base.clock),
        _given(on_event, base.on_event),
        _given(on_token, base.on_token),
    ).check()
    if isinstance(source, Reuse):
        if settings == source._settings:
            return source
        source = source.source
    return Reuse(
        source,
        skew=settings.skew,
        max_age=settings.max_age,
        failure_backoff=settings.failure_backoff,
        clock=settings.clock,
        on_event=settings.on_event,
        on_token=settings.on_token,
    )


def _given(value: T | _Unset, default: T) -> T:
    return default if isinstance(value, _Unset) else value


class Reuse(AsyncClosing):
    """A caching token source: the one place where tokens are kept and refreshed.

    Each token has three periods, measured with ``clock``:

    * fresh, until ``refresh_at`` (set by ``buffer()``; ``expires_at - skew``
      when absent): ``token()`` returns the cached token at once;
    * the soft window, from ``refresh_at`` until ``expires_at - skew``: the
      first caller refreshes and every other caller gets the current token at
      once; a failed refresh is logged, the current token keeps being served,
      and the next attempt waits for a backoff;
    * hard expiry, from ``expires_at - skew``: callers wait for one refresh.

    Guarantees:

    1. Hot path: while fresh, ``token()`` takes no lock, makes no I/O and
       never suspends.
    2. Single flight: the inner source is called at most once at a time;
       every caller waiting for that call gets its token, or its error (the
       same instance for all).
    3. Soft window: as above; one refresh, nobody else waits.
    4. Hard expiry: everyone waits for the single refresh.
    5. Cancellation: cancelling the caller that is refreshing abandons that
       inner call; one of the waiting callers starts a new one, so nobody is
       left hanging and the cache stays as it was.
    6. ``invalidate(token)`` drops the cached token only if it is that token;
       ``refresh()`` refreshes at once without dropping it.
    7. ``reuse(reuse(source))`` is one cache: ``reuse()`` without settings
       returns a ``Reuse`` unchanged, whatever its settings.

    A ``Reuse`` holds no event-loop object between refreshes, so it may be
    used from successive event loops, but from one event loop at a time.

    The arguments are those of ``reuse()``; a ``Reuse`` given as the
    source is unwrapped, so caches never nest.

    Raises:
        ConfigError: a setting is out of range.
    """

    _hot_token: Token

    __slots__ = (
        "_clock",
        "_failures",
        "_hooks",
        "_hot_token",
        "_hot_until",
        "_refresh_at",
        "_retry_at",
        "_round",
        "_settings",
        "_source",
        "_token",
        "_usable_until",
    )

    def __init__(
        self,
        source: TokenSource,
        *,
        skew: float = 10.0,
        max_age: float | None = None,
        failure_backoff: float = 1.0,
        clock: Clock = time.time,
        on_event: EventHook | None = None,
        on_token: TokenCallback | None = None,
    ) -> None:
        settings = Settings(skew, max_age, failure_backoff, clock, on_event, on_token)
        self._settings = settings.check()
        while isinstance(source, Reuse):
            source = source.source
        self._source = source
        self._clock = clock
        self._hooks = Hooks("reuse", on_event, on_token)
        self._token: Token | None = None
        # These instants decide what token() does. They are computed once,
        # when a token arrives, so that the hot path is a single compare.
        self._refresh_at = _NEVER
        self._usable_until = _NEVER
        # The hot path serves ``_hot_token`` while ``clock() < _hot_until``.
        # ``_hot_until`` is ``_refresh_at``, or never when an ``on_event`` hook
        # wants every hit reported (that is done off the hot path), or when
        # nothing is cached; ``_hot_token`` is set whenever it is not never.
        self._hot_until = _NEVER
        self._round: Round | None = None
        self._failures = 0
        self._retry_at = _NEVER

    @property
    def source(self) -> TokenSource:
        """The inner source this cache calls."""
        return self._source

    def peek(self) -> Token | None:
        """The cached token as it is (possibly due for refresh or expired), or None.

        Never calls the inner source.
        """
        return self._token

    def fresh(self) -> Token | None:
        """The cached token if ``token()`` would return it at once right now, else None.

        None when nothing is cached, when the token is due for refresh, and
        when an ``on_event`` hook is set (``token()`` then reports every hit,
        which this method never does). Never calls the inner source, never
        reports an event.

        Thread safety: unlike the rest of ``Reuse``, safe to call from any
        thread while the cache is in use on its event loop. It takes no lock:
        the token is stored before its refresh deadline and read after it,
        so a new deadline is never paired with an older token.
        """
        until = self._hot_until
        if self._clock() < until:
            return self._hot_token  # read after its deadline, see above
        return None

    async def token(self) -> Token:
        """Return the cached token, refreshing it first if it is due.

        Concurrency and cancellation: safe for any number of concurrent
        callers; the inner source is called by one of them at a time and the
        others wait for (or, in the soft window, do without) its result.
        Cancelling a waiting caller affects only that caller. Cancelling the
        caller that is refreshing cancels the inner call; another waiting
        caller then starts a new one.

        Raises:
            Exception: whatever the inner source raised, when no usable
                token is cached. Every caller that waited for the same failed
                refresh receives the same error instance.
        """
        # The hot path: one clock reading, one float compare, one attribute read.
        if self._clock() < self._hot_until:
            return self._hot_token
        return await self._token_slow()

    async def _token_slow(self) -> Token:
        missed = False
        while True:
            now = self._clock()
            token = self._token
            if token is not None and now < self._usable_until:
                if now < self._refresh_at or self._round is not None or now < self._retry_at:
                    # Fresh again, or a refresh is under way or backing off.
                    self._hooks.hit()
                    return token
                return await self._refresh()
            if not missed:
                missed = True
                self._hooks.emit("cache_miss", token)
            round_ = self._round
            if round_ is None:
                return await self._refresh()
            await round_.ended.wait()
            if round_.failed:
                usable = self._usable_token()
                if usable is not None:
                    return usable
            result = round_.outcome()
            if result is not None:
                return result
            # The refreshing caller was cancelled: go round, maybe take over.

    async def refresh(self) -> Token:
        """Refresh the token now, single flight, without discarding the cached one.

        Joins the refresh already under way, or starts one. Until it ends,
        ``token()`` keeps returning the cached token while that is before
        hard expiry (as in the soft window); nothing waits for this refresh
        but the callers of ``refresh()`` and those that would wait anyway.
        Unlike ``token()``, it ignores the backoff after failed refreshes
        and never answers with the old token: it returns the inner source's
        answer, or raises its error.

        Concurrency and cancellation: safe for any number of concurrent
        callers; those arriving while a refresh is under way (started by
        ``token()`` or ``refresh()``) share its outcome. Cancelling the
        caller that is refreshing cancels the inner call; a caller waiting
        in ``refresh()`` or ``token()`` then starts a new one, so nobody is
        left hanging.

        Returns:
            The new token, now cached.

        Raises:
            Exception: whatever the inner source raised; the cached token
                stays and is served until its hard expiry. Every caller that
                joined the same failed refresh receives the same instance.
        """
        while True:
            round_ = self._round
            if round_ is None:
                return await self._refresh(fallback=False)
            await round_.ended.wait()
            result = round_.outcome()
            if result is not None:
                return result
            # The refreshing caller was cancelled: go round, maybe take over.

    async def _refresh(self, *, fallback: bool = True) -> Token:
        """Call the inner source once, as the one caller refreshing for everyone.

        On failure, with ``fallback``, the cached token is returned while it
        is usable; otherwise the error is raised.
        """
        round_ = Round()
        self._round = round_
        try:
            self._hooks.emit("refresh_started", self._token)
            token = await self._source.token()
        except Exception as exc:
            self._end_failed(round_, exc)
            usable = self._usable_token() if fallback else None
            if usable is not None:
                return usable
            raise
        except BaseException:
            # Cancelled (or interrupted): nothing learned, let a waiter take over.
            self._end_round(round_)
            round_.abandon()
            raise
        self._end_succeeded(round_, token)
        return token

    def _end_round(self, round_: Round) -> None:
        if self._round is round_:
            self._round = None

    def _end_succeeded(self, round_: Round, token: Token) -> None:
        now = self._clock()
        self._refresh_at, self._usable_until = deadlines(token, now, self._settings)
        # fresh() reads from other threads: the token goes in before its deadline.
        self._token = self._hot_token = token
        if self._hooks.on_event is None:
            self._hot_until = self._refresh_at
        self._failures = 0
        # A source that hands back a token already due for refresh must not
        # be called again on every token() call.
        due = self._refresh_at <= now
        self._retry_at = now + self._settings.failure_backoff if due else _NEVER
        self._end_round(round_)
        round_.succeed(token)
        logger.debug(
            "token refreshed: %s, expires in %s",
            token.fingerprint,
            describe_seconds(token.expires_in(now)),
        )
        self._hooks.new_token(token)

    def _end_failed(self, round_: Round, error: Exception) -> None:
        now = self._clock()
        self._failures += 1
        delay = failure_delay(self._settings.failure_backoff, self._failures)
        self._retry_at = now + delay
        self._end_round(round_)
        round_.fail(error)
        usable = self._usable_token(now)
        if usable is not None:
            logger.warning(
                "token refresh failed (%s: %s); still serving token %s for %s, "
                "next attempt in %.1fs",
                type(error).__name__,
                error,
                usable.fingerprint,
                describe_seconds(self._usable_until - now),
                delay,
            )
        else:
            logger.warning(
                "token refresh failed (%s: %s); no valid token to serve",
                type(error).__name__,
                error,
            )
        self._hooks.emit("refresh_failed", usable, error)

    def _usable_token(self, now: float | None = None) -> Token | None:
        """The cached token if it is before hard expiry, else None."""
        if now is None:
            now = self._clock()
        return self._token if now < self._usable_until else None

    def invalidate(self, token: Token) -> None:
        """Drop the cached token if it is ``token``, and tell the inner source.

        A report about an older token (a late 401) leaves a newer cached token
        in place. Tokens are compared by their access token.
        """
        current = self._token
        if current is not None and current.access_token == token.access_token:
            self._token = None
            self._hot_until = self._refresh_at = self._usable_until = _NEVER
            logger.info("token %s invalidated; the next call refreshes", token.fingerprint)
        self._source.invalidate(token)

    async def aclose(self) -> None:
        """Close the inner source (if it owns resources). The cache is kept."""
        await aclose_source(self._source)

    def __repr__(self) -> str:
        token = self._token
        cached = token.fingerprint if token is not None else None
        return f"Reuse({self._source!r}, cached={cached!r})"
