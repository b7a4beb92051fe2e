"""The issuer's signing keys, fetched once and kept in a single-flight cache.

``KeyCache`` keeps the key set in a ``Cache[KeySet]`` (the generic cache of
``tokensources._cache``), which gives single flight, a hot path without I/O
and the backoff after failed fetches. Timeline of one fetched JWKS::

    fetched ── max_age ──► refresh_at ── stale_if_error ──► usable_until
      fresh: no I/O          one caller refetches; if that fails the
                             cached keys keep serving (stale-if-error)

After ``usable_until`` with the endpoint still down, verification fails
with the fetch error (a transient ``TokenSourceError``), not with
``InvalidTokenError``: the token may well be fine. With nothing usable
cached, the cache backs off after a failed fetch (jittered, doubling, never
shorter than the endpoint's ``Retry-After``): callers meanwhile get that
fetch's error at once, so incoming requests never drive one JWKS fetch each.
``DiscoveredJwksUri`` keeps the ``jwks_uri`` found by discovery the same way.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from .._cache import Cache, Entry, Observer
from .._errors import InvalidTokenError, TokenResponseError, TokenSourceError
from .._http import HttpClient
from .._log import logger
from .._redact import safe_url
from .._source import Clock
from ..sources import discover
from ._jwk import KeySet, VerificationKey
from ._jwks_fetch import fetch_jwks

__all__ = ["DiscoveredJwksUri", "KeyCache"]

T = TypeVar("T")

# However short the endpoint's Cache-Control, keys are kept at least this long.
MIN_JWKS_MAX_AGE = 60.0


class _Reports(Observer[T]):
    """Logs a failed fetch that leaves nothing to serve; names the value, never its content."""

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def label(self, value: T) -> str:
        """Name the cached value in error messages."""
        return self._what

    def failed(
        self, error: Exception, usable: T | None, usable_for: float, retry_in: float
    ) -> None:
        """Log the failure: callers get its error until the next attempt."""
        logger.warning(
            "fetching %s failed (%s: %s); callers get this error for %.1fs until the next attempt",
            self._what,
            type(error).__name__,
            error,
            retry_in,
        )


class DiscoveredJwksUri:
    """The issuer's ``jwks_uri``, found by discovery (RFC 8414) once and then kept.

    Callable: ``await jwks_uri()``. Concurrent first calls make one
    discovery; a failed one backs off like the key set's cold fetch.
    """

    __slots__ = ("_cache", "_http", "_insecure", "_issuer")

    def __init__(
        self, issuer: str, http: httpx.AsyncClient | None, *, insecure: bool, clock: Clock
    ) -> None:
        self._issuer = issuer
        self._http = http
        self._insecure = insecure
        what = f"the metadata of issuer {safe_url(issuer)}"
        self._cache: Cache[str] = Cache(self._discover, clock=clock, observer=_Reports(what))

    async def __call__(self) -> str:
        """The ``jwks_uri``, discovered on the first call.

        Concurrency and cancellation: safe for any number of concurrent
        callers, who share one discovery; cancelling the one discovering
        hands the discovery to another.

        Raises:
            TokenSourceError: discovery failed or named no ``jwks_uri``.
        """
        return await self._cache.get()

    async def _discover(self) -> Entry[str]:
        metadata = await discover(self._issuer, http=self._http, allow_insecure_http=self._insecure)
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise TokenResponseError(
                f"the metadata of issuer {safe_url(self._issuer)} has no jwks_uri"
            )
        # An issuer's key location does not move: kept for the verifier's life.
        return Entry(jwks_uri, math.inf, math.inf)


class KeyCache:
    """Finds the key for a token header, fetching the JWKS as rarely as possible.

    * Cold cache: however many verifications start at once, one fetch. If
      it fails, verifications get its error at once until the cache's
      backoff has passed; then one of them fetches again.
    * Unknown ``kid``: the JWKS is refetched (the issuer may have rotated
      its keys) if no fetch started within ``cooldown`` seconds, and the
      token is judged on the new keys; a token arriving while a fetch is
      under way waits for that fetch. Within the cool-down, with no fetch
      under way, it is refused at once. So a flood of forged ``kid``s costs
      at most one fetch per cool-down.
    * Known ``kid``: never waits for such a refetch; the cached keys keep
      serving while it runs (``Cache.refresh()`` keeps them in place).
    * A failed refetch keeps the last good keys while they are within their
      stale-if-error window and tries again after a growing delay, so a
      refetch forced by an unknown ``kid`` never throws away working keys.
    """

    __slots__ = (
        "_cache",
        "_clock",
        "_cooldown",
        "_failures",
        "_http",
        "_last",
        "_last_attempt_at",
        "_max_age",
        "_stale_if_error",
        "_url",
    )

    def __init__(
        self,
        url: Callable[[], Awaitable[str]],
        http: HttpClient,
        *,
        max_age: float,
        stale_if_error: float,
        cooldown: float,
        clock: Clock,
    ) -> None:
        self._url = url
        self._http = http
        self._max_age = max_age
        self._stale_if_error = stale_if_error
        self._cooldown = cooldown
        self._clock = clock
        self._last: Entry[KeySet] | None = None
        self._failures = 0
        self._last_attempt_at = -math.inf
        self._cache: Cache[KeySet] = Cache(self._fetch, clock=clock, observer=_Reports("the JWKS"))

    def fresh(self) -> KeySet | None:
        """The cached key set if it is fresh (no fetch due), else None; never fetches.

        Safe from any thread (see ``Cache.fresh``).
        """
        return self._cache.fresh()

    async def find(self, kid: str | None, alg: str) -> VerificationKey:
        """The key that verifies a token with header ``kid`` and ``alg``.

        Concurrency and cancellation: safe for any number of concurrent
        callers (see the class docstring); cancelling a caller affects only
        that caller.

        Raises:
            InvalidTokenError: no key of the issuer fits the header.
            TokenSourceError: the JWKS could not be fetched and no cached
                keys are usable (transient: the token itself may be fine).
        """
        keys = await self._cache.get()
        key = keys.find(kid, alg)
        if key is not None:
            return key
        if kid is None or kid in keys.by_kid:
            # The issuer has this key (or the token names none): a refetch
            # would not change the verdict.
            raise InvalidTokenError(f"no key of the issuer fits the token's algorithm {alg}")
        fetching = self._cache.fetching
        if fetching or self._clock() - self._last_attempt_at >= self._cooldown:
            if not fetching:
                logger.info("token signed with an unknown key id; refetching the JWKS")
            # Joins the fetch under way or starts one; meanwhile the cached
            # keys keep serving every other caller.
            keys = await self._cache.refresh()
        key = keys.find(kid, alg)
        if key is None:
            raise InvalidTokenError("the token's key id is not in the issuer's JWKS")
        return key

    async def _fetch(self) -> Entry[KeySet]:
        """Fetch the JWKS, or fall back to the last good key set (called one at a time)."""
        now = self._last_attempt_at = self._clock()
        try:
            fetched = await fetch_jwks(await self._url(), self._http)
        except TokenSourceError as exc:
            return self._stale(exc)
        self._failures = 0
        # The endpoint's Cache-Control may shorten the interval (a provider that
        # is about to rotate), never lengthen it, and never below the floor that
        # keeps a no-cache endpoint from being fetched on every verification.
        max_age = self._max_age
        if fetched.max_age is not None:
            max_age = min(max_age, max(fetched.max_age, MIN_JWKS_MAX_AGE))
        entry = Entry(fetched.keys, now + max_age, now + max_age + self._stale_if_error)
        self._last = entry
        return entry

    def _stale(self, error: TokenSourceError) -> Entry[KeySet]:
        """The last good key set, due again after a growing delay; else ``error``."""
        last, now = self._last, self._clock()
        if last is None or now >= last.usable_until:
            raise error
        self._failures += 1
        # Exponential backoff from 2 s, never longer than a normal refresh interval.
        retry_in = min(self._max_age, 2.0 ** min(self._failures, 16))
        logger.warning(
            "JWKS fetch failed (%s: %s); still using the %d cached keys, next attempt in %.0fs",
            type(error).__name__,
            error,
            len(last.value.keys),
            retry_in,
        )
        return Entry(last.value, min(now + retry_in, last.usable_until), last.usable_until)
