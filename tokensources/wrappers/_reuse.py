"""reuse(): the cache in front of a token source."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .._cache import Cache, Entry
from .._closing import AsyncClosing
from .._log import logger
from .._source import Clock, EventHook, TokenSource, aclose_source
from .._token import Token
from ._hooks import TokenReports
from ._margin import DelayQuantile
from ._policy import SKEW_FRACTION, Settings, TokenCallback, deadlines

__all__ = ["Reuse", "count_hits", "reuse"]

# A 401 for a token expired in flight raises the margin to this many times that request's delay.
_IN_FLIGHT_HEADROOM = 1.5
# The soft window leaves room for this many times the usual (99th percentile) refresh.
_REFRESH_ROOM = 2.0

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])


class _Default(Generic[T]):
    """A setting left out of a ``reuse()`` call: the wrapped cache's, else ``value``.

    It prints as ``value`` does, so that ``help(reuse)`` reads ``skew=10.0``.
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        name = getattr(self.value, "__qualname__", None)
        if callable(self.value) and name is not None:
            return f"{self.value.__module__}.{name}"  # time.time, not <built-in function time>
        return repr(self.value)


def _mark_defaults(function: F) -> F:
    """Replace the keyword defaults of ``function`` with ``_Default`` markers of the same values.

    So ``function`` can tell a setting left out from the same value given,
    while its source (which the API reference reads) and ``help()`` both
    show the plain defaults.
    """
    defaults = function.__kwdefaults__ or {}
    function.__kwdefaults__ = {name: _Default(value) for name, value in defaults.items()}
    return function


@_mark_defaults
def reuse(
    source: TokenSource,
    *,
    skew: float = 10.0,
    max_age: float | None = None,
    failure_backoff: float = 1.0,
    clock: Clock = time.time,
    on_event: EventHook | None = None,
    on_token: TokenCallback | None = None,
    learn_margin: bool = True,
) -> Reuse:
    """Cache the tokens of ``source``: one inner call per refresh, however many callers.

    See ``Reuse`` for the guarantees. Wrapping is idempotent: if ``source``
    is already a ``Reuse``, it is returned unchanged unless a setting given
    here differs from its own; then a new cache is built over *its* inner
    source (so caches never nest), with the settings given here and the
    existing cache's settings for the others. A setting counts as given
    when it is passed, even with its default value.

    Args:
        source: the token source to cache.
        skew: seconds before ``expires_at`` at which a token stops being
            handed out (clock skew and request latency). Clamped to a tenth
            of the token's lifetime, so short tokens stay usable.
        max_age: if set, no token is kept longer than this many seconds
            after it arrived, whatever its expiry. Tokens without a known
            expiry are otherwise kept until ``invalidate()``.
        failure_backoff: seconds to wait after a failed refresh before
            trying again; doubles with each consecutive failure up to 30
            seconds (or ``failure_backoff`` if larger), with a random jitter
            of up to half the delay, and is never shorter than a
            ``Retry-After`` (up to the same cap). Meanwhile callers get the
            still-valid token, or, without one, the failed refresh's error.
        clock: wall-clock time in epoch seconds.
        on_event: called with a ``TokenEvent`` for ``refresh_started``,
            ``refresh_succeeded``, ``refresh_failed``, ``cache_miss`` (a
            caller found no usable token), ``cooldown`` (such a caller got
            the last error, within the backoff) and ``cache_hit``. With a
            hook, every call is reported, so fresh calls take a slightly
            longer (still lock-free, I/O-free) path than without one.
        on_token: called once with every new token.
        learn_margin: learn how long requests take to reach the API and
            refreshes take to finish, and keep each new token that much
            further from its expiry (see ``Reuse``). ``False`` keeps only
            ``skew`` and the ``refresh_at`` of ``buffer()``.

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
        _given(learn_margin, base.learn_margin),
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
        learn_margin=settings.learn_margin,
    )


# The plain defaults, for a source that is not a Reuse (Settings fields are named as the arguments).
_DEFAULTS = Settings(**{name: mark.value for name, mark in (reuse.__kwdefaults__ or {}).items()})


def _given(value: T, inherited: T) -> T:
    return inherited if isinstance(value, _Default) else value


class Reuse(AsyncClosing):
    """A caching token source: the one place where tokens are kept and refreshed.

    Each token has three periods, measured with ``clock``:

    * fresh, until ``refresh_at`` (set by ``buffer()``; ``expires_at - skew``
      when absent): ``token()`` returns the cached token at once;
    * the soft window, from ``refresh_at`` until ``expires_at - skew`` (or
      the learned margin, below): the first caller refreshes and every other
      caller gets the current token at once; a failed refresh is logged, the
      current token keeps being served, and the next attempt waits for a
      backoff;
    * hard expiry, from then on: callers wait for one refresh.

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
       left hanging and the cache stays as it was. A refresh left unfinished
       by an event loop that has ended is abandoned in the same way: it
       never blocks or breaks a caller on a later loop.
    6. ``invalidate(token)`` drops the cached token only if it is that token;
       ``refresh()`` refreshes at once without dropping it.
    7. ``reuse(reuse(source))`` is one cache: ``reuse()`` without settings
       returns a ``Reuse`` unchanged, whatever its settings.
    8. Failure backoff: after a failed refresh, in any period, no new one
       starts until a backoff has passed (``failure_backoff`` doubling per
       consecutive failure up to 30 s, jittered, never shorter than the
       server's ``Retry-After``). Meanwhile callers get the still-valid
       token, or, when there is none, the failed refresh's error at once:
       the same instance, transient or not as it was. A revoked secret or an
       endpoint that is down costs one inner call per backoff, not one per
       caller. A new token ends the backoff, and so does ``invalidate()`` of
       the cached token; ``refresh()`` ignores it.

    The learned margin (``learn_margin=True``, the default): a token valid
    when a request takes it can be expired when the API reads it, because
    requests queue (in the connection pool, in proxies, in the server's
    accept queue) and refreshes queue too. So hard expiry is
    ``expires_at`` minus the larger of ``skew`` and the learned margin,
    and a token is due for refresh early enough before that for a refresh
    to finish. The margin is a high quantile (99th percentile) of recent
    delays from attaching a token to the answer, as ``TokenAuth`` reports
    them (``request_answered()``), decaying with a half-life of 30 s; it is
    never below ``skew`` and never more than half the token's lifetime. A
    401 for a token whose remaining life when attached was shorter than
    the request's delay (plus ``skew``) is an expiry in flight, not a
    revoked token: the margin is raised at once to one and a half times
    that delay (``TokenAuth`` still invalidates the token and resends).
    The soft window starts at least twice the 99th percentile of recent
    refresh durations before hard expiry (at most half the token's
    remaining life). The margin and the room are worked into each token's
    instants when it arrives, so the hot path is still one compare; what is
    learned while a token is cached applies from the next token (a 401 for
    an expiry in flight drops the cached one anyway, through
    ``invalidate()``). A token of unknown expiry is unaffected, and no
    token is ever handed out past ``expires_at - skew``.

    A token that arrives already expired is never handed out: that refresh
    fails with ``TokenExpiredError`` (naming the token by fingerprint) and
    backs off like any other failure, and a still-valid cached token stays.

    A ``Reuse`` holds no event-loop object between refreshes, so it may be
    used from successive event loops, but from one event loop at a time.

    The arguments are those of ``reuse()``; a ``Reuse`` given as the
    source is unwrapped, so caches never nest.

    Raises:
        ConfigError: a setting is out of range.
    """

    __slots__ = ("_cache", "_clock", "_delays", "_refreshes", "_reports", "_settings", "_source")

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
        learn_margin: bool = True,
    ) -> None:
        settings = Settings(skew, max_age, failure_backoff, clock, on_event, on_token, learn_margin)
        self._settings = settings.check()
        # Attach-to-answer delays of requests, and durations of refreshes.
        self._delays = DelayQuantile(clock)
        self._refreshes = DelayQuantile(clock)
        while isinstance(source, Reuse):
            source = source.source
        self._source = source
        self._clock = clock
        # Counts in plain integers, read by tokensources.otel when a meter collects.
        self._reports = TokenReports("reuse", on_event, on_token, clock=clock, source=source)
        self._cache: Cache[Token] = Cache(
            self._fetch,
            clock=clock,
            failure_backoff=self._settings.failure_backoff,
            observer=self._reports,
        )

    @property
    def source(self) -> TokenSource:
        """The inner source this cache calls."""
        return self._source

    @property
    def fingerprint(self) -> str:
        """The source's identity fingerprint, as metrics and log lines name it.

        8 hex digits of a digest of the inner source's ``cache_identity``
        (which holds only a one-way digest of the credential): the value of
        the ``tokensources.source`` attribute of ``tokensources.otel``'s
        metrics. ``"unnamed"`` for a source without an identity (``Static``,
        ``External`` with a callable).
        """
        return self._reports.identity()

    @property
    def learned_margin(self) -> float:
        """The delay learned so far, in seconds: how long a request may take to reach the API.

        The 99th percentile of recent attach-to-answer delays (decayed),
        raised by expiries in flight; 0.0 before anything was reported or
        with ``learn_margin=False``. Each new token is kept at least this
        far from its expiry (within the bounds described in ``Reuse``).
        """
        return self._delays.quantile() if self._settings.learn_margin else 0.0

    def request_answered(
        self, token: Token, attached_at: float, answered_at: float, *, rejected: bool
    ) -> bool:
        """Learn from a request that carried ``token``: how long it took to be answered.

        ``TokenAuth`` calls this for every answer (the ``LearnsDelays``
        protocol); other clients may too. ``attached_at`` and
        ``answered_at`` are instants of this cache's clock. A ``rejected``
        request (a 401) whose token had less life left when attached than
        the request took, plus ``skew`` (at most a tenth of that life), was
        an expiry in flight: the margin
        rises at once, and True is returned. Nothing happens with
        ``learn_margin=False`` (False is returned).

        Returns at once and never raises; it takes no lock and makes no
        I/O. Called from several threads at once, an observation may be
        lost, never the estimate.
        """
        if not self._settings.learn_margin:
            return False
        delay = answered_at - attached_at
        expires_at = token.expires_at
        if rejected and expires_at is not None:
            left = expires_at - attached_at
            # Clock skew counts as it does for hard expiry: clamped to a tenth of the life.
            if left < delay + min(self._settings.skew, SKEW_FRACTION * max(left, 0.0)):
                self._delays.raise_to(delay * _IN_FLIGHT_HEADROOM)
                logger.info(
                    "token %s expired in flight (%.3fs left when attached, answered after %.3fs): "
                    "margin raised to %.3fs",
                    token.fingerprint,
                    left,
                    delay,
                    self._delays.quantile(),
                )
                return True
        self._delays.observe(delay)
        return False

    def peek(self) -> Token | None:
        """The cached token as it is (possibly due for refresh or expired), or None.

        Never calls the inner source.
        """
        return self._cache.peek()

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
        token = self._cache.fresh()
        if token is not None:
            self._reports.hits += 1
        return token

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
                refresh receives the same error instance, and so does every
                caller during the backoff that follows (guarantee 8).
            TokenExpiredError: the inner source returned a token that had
                already expired when it arrived.
        """
        # The hot path: one clock reading, one float compare, two attribute reads.
        cache = self._cache
        if self._clock() < cache.hot_until:
            return cache.hot_value
        return await cache.get_slow()

    async def _counted_token(self) -> Token:
        # ``token`` while metrics are on (see ``count_hits``): the same, and
        # each hot-path hit added to a plain integer that the metrics read.
        cache = self._cache
        if self._clock() < cache.hot_until:
            self._reports.hits += 1
            return cache.hot_value
        return await cache.get_slow()

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
        return await self._cache.refresh()

    async def _fetch(self) -> Entry[Token]:
        """One inner call, and the instants that rule the token's use."""
        started = self._clock()
        token = await self._source.token()
        now = self._clock()
        settings = self._settings
        if not settings.learn_margin:
            refresh_at, usable_until = deadlines(token, now, settings)
            return Entry(token, refresh_at, usable_until)
        self._refreshes.observe(now - started)
        refresh_at, usable_until = deadlines(
            token,
            now,
            settings,
            margin=self._delays.quantile(),
            room=_REFRESH_ROOM * self._refreshes.quantile(),
        )
        return Entry(token, refresh_at, usable_until)

    def invalidate(self, token: Token) -> None:
        """Drop the cached token if it is ``token``, and tell the inner source.

        A report about an older token (a late 401) leaves a newer cached token
        in place. Tokens are compared by their access token. Dropping the
        cached token ends a failure backoff: the next caller refreshes.
        """
        rejected = token.access_token
        if self._cache.drop(lambda cached: cached.access_token == rejected) is not None:
            logger.info("token %s invalidated; the next call refreshes", token.fingerprint)
        self._source.invalidate(token)

    async def aclose(self) -> None:
        """Close the inner source (if it owns resources). The cache is kept."""
        await aclose_source(self._source)

    def __repr__(self) -> str:
        token = self._cache.peek()
        cached = token.fingerprint if token is not None else None
        return f"Reuse({self._source!r}, cached={cached!r})"


_UNCOUNTED_TOKEN = Reuse.token
Reuse._counted_token.__doc__ = Reuse.token.__doc__


def count_hits(enabled: bool) -> None:
    """Count hot-path hits of every ``Reuse`` (for the metrics), or stop counting them.

    Counting costs an integer increment per hit, so the hot path pays it only
    while something reads the counts: ``tokensources.otel.instrument()``
    turns it on and the last ``uninstrument()`` off. Hits outside the hot
    path (soft window, ``on_event`` set) are always counted.
    """
    # One class attribute, chosen once: no per-call check of a flag.
    Reuse.token = Reuse._counted_token if enabled else _UNCOUNTED_TOKEN  # type: ignore[method-assign]
