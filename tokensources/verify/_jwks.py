"""The issuer's signing keys, fetched once and cached with ``reuse()``.

The JWKS is treated as a token source like any other: an inner source
fetches the document and returns it as a ``Token`` (the access token is a
digest of the document, ``extra["keys"]`` the parsed keys), and ``reuse()``
in front of it gives single flight, a hot path without I/O and
``invalidate()`` for free. Timeline of one fetched JWKS::

    fetched ── max_age ──► refresh_at ── stale_if_error ──► expires_at
      fresh: no I/O          one caller refetches; if that fails the
                             cached keys keep serving (stale-if-error)

After ``expires_at`` with the endpoint still down, verification fails with
the fetch error (a transient ``TokenSourceError``), not with
``InvalidTokenError``: the token may well be fine. With nothing usable
cached, ``reuse()`` backs off after a failed fetch (jittered, doubling,
never shorter than the endpoint's ``Retry-After``): callers meanwhile get
that fetch's error at once, so incoming requests never drive one JWKS fetch
each.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .._errors import (
    ConfigError,
    InvalidTokenError,
    TokenEndpointError,
    TokenResponseError,
    TokenSourceError,
)
from .._http import HttpClient
from .._log import logger
from .._redact import excerpt, safe_url
from .._source import Clock
from .._token import Token
from .._wire import cache_max_age, parse_retry_after
from ..sources import discover
from ..wrappers import Reuse, reuse
from ._jwk import KeySet, VerificationKey, parse_jwks

__all__ = ["MAX_JWKS_BYTES", "Discovery", "JWKSFetch", "KeyCache"]

# Real key sets are a few KiB (dozens of keys at most).
MAX_JWKS_BYTES = 256 * 1024
# However short the endpoint's Cache-Control, keys are kept at least this long.
MIN_JWKS_MAX_AGE = 60.0


class Discovery:
    """A token source whose "token" is the issuer's ``jwks_uri``, found by discovery.

    Wrapped in ``reuse()`` it is fetched once (single flight) and kept: the
    token has no expiry.
    """

    def __init__(self, issuer: str, http: httpx.AsyncClient | None, *, insecure: bool) -> None:
        self._issuer = issuer
        self._http = http
        self._insecure = insecure

    async def token(self) -> Token:
        """Discover the issuer's metadata and return its ``jwks_uri`` as a token.

        Concurrency and cancellation: called by ``reuse()`` one at a time;
        cancelling abandons the request.

        Raises:
            TokenSourceError: discovery failed or named no ``jwks_uri``.
        """
        metadata = await discover(self._issuer, http=self._http, allow_insecure_http=self._insecure)
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise TokenResponseError(
                f"the metadata of issuer {safe_url(self._issuer)} has no jwks_uri"
            )
        return Token(access_token=jwks_uri)

    def invalidate(self, token: Token) -> None:
        """Nothing to drop: discovery keeps no state."""


class JWKSFetch:
    """A token source that fetches the JWKS and returns it as a ``Token``.

    On a failed fetch it returns the last good key set while that is within
    its stale-if-error window, so a refetch forced by an unknown ``kid``
    never throws away working keys.

    Attributes:
        last_attempt_at: when the last fetch started (clock time), or -inf.
        fetching: whether a fetch is under way.
    """

    def __init__(
        self,
        url: Callable[[], Awaitable[str]],
        http: HttpClient,
        *,
        max_age: float,
        stale_if_error: float,
        clock: Clock,
    ) -> None:
        self._url = url
        self._http = http
        self._max_age = max_age
        self._stale_if_error = stale_if_error
        self._clock = clock
        self._last: Token | None = None
        self._failures = 0
        self.last_attempt_at = -math.inf
        self.fetching = False

    async def token(self) -> Token:
        """Fetch the JWKS (or fall back to the last good one) as a ``Token``.

        Concurrency and cancellation: called by ``reuse()`` one at a time;
        cancelling abandons the request and keeps the last good keys.

        Raises:
            TokenSourceError: the fetch failed and no cached keys are left.
        """
        now = self.last_attempt_at = self._clock()
        self.fetching = True
        try:
            keys, digest, server_max_age = await self._fetch()
        except TokenSourceError as exc:
            return self._stale(exc)
        finally:
            self.fetching = False
        self._failures = 0
        # The endpoint's Cache-Control may shorten the interval (a provider that
        # is about to rotate), never lengthen it, and never below the floor that
        # keeps a no-cache endpoint from being fetched on every verification.
        max_age = self._max_age
        if server_max_age is not None:
            max_age = min(max_age, max(server_max_age, MIN_JWKS_MAX_AGE))
        token = Token(
            access_token=digest,
            refresh_at=now + max_age,
            expires_at=now + max_age + self._stale_if_error,
            extra={"keys": keys},
        )
        self._last = token
        return token

    def _stale(self, error: TokenSourceError) -> Token:
        """The last good key set, marked to be retried after a growing delay."""
        last, now = self._last, self._clock()
        if last is None or last.expired(now):
            raise error
        self._failures += 1
        # Exponential backoff from 2 s, never longer than a normal refresh interval.
        retry_in = min(self._max_age, 2.0 ** min(self._failures, 16))
        logger.warning(
            "JWKS fetch failed (%s: %s); still using the %d cached keys, next attempt in %.0fs",
            type(error).__name__,
            error,
            len(_keys(last).keys),
            retry_in,
        )
        return last.replace(refresh_at=now + retry_in)

    async def _fetch(self) -> tuple[KeySet, str, float | None]:
        url = await self._url()
        raw = await self._http.request(
            "GET", url, headers={"Accept": "application/json"}, max_body=MAX_JWKS_BYTES
        )
        where = safe_url(url)
        if raw.status_code != 200:
            raise TokenEndpointError(
                f"the JWKS endpoint {where} answered {raw.status_code}",
                status_code=raw.status_code,
                # RFC 9110 §10.2.3: the cache waits at least this long to retry.
                retry_after=parse_retry_after(raw.retry_after, raw.sent_at),
                body_excerpt=excerpt(raw.body),
                url=where,
            )
        if raw.truncated:
            raise TokenResponseError(
                f"the JWKS at {where} is larger than {MAX_JWKS_BYTES} bytes", url=where
            )
        try:
            keys = parse_jwks(raw.body)
        except (ValueError, UnicodeDecodeError):
            raise TokenResponseError(
                f"the JWKS at {where} is not a JSON object with a 'keys' array",
                content_type=raw.content_type,
                body_excerpt=excerpt(raw.body),
                url=where,
            ) from None
        if not keys.keys:
            raise TokenResponseError(f"the JWKS at {where} holds no usable signing key", url=where)
        logger.debug("fetched the JWKS from %s: %d usable keys", where, len(keys.keys))
        return keys, hashlib.sha256(raw.body).hexdigest(), cache_max_age(raw.cache_control)

    def invalidate(self, token: Token) -> None:
        """Nothing to drop here; the cache in front does that."""


class KeyCache:
    """Finds the key for a token header, fetching the JWKS as rarely as possible.

    * Cold cache: however many verifications start at once, one fetch. If
      it fails, verifications get its error at once until ``reuse()``'s
      backoff has passed; then one of them fetches again.
    * Unknown ``kid``: the JWKS is refetched (the issuer may have rotated
      its keys) if no fetch started within ``cooldown`` seconds, and the
      token is judged on the new keys; a token arriving while a fetch is
      under way waits for that fetch. Within the cool-down, with no fetch
      under way, it is refused at once. So a flood of forged ``kid``s costs
      at most one fetch per cool-down.
    * Known ``kid``: never waits for such a refetch; the cached keys keep
      serving while it runs (``Reuse.refresh()`` keeps them in place).
    """

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
        self._fetch = JWKSFetch(
            url, http, max_age=max_age, stale_if_error=stale_if_error, clock=clock
        )
        # skew=0: a key set does not go bad near its expiry the way a bearer
        # token in flight does.
        self._cache: Reuse = reuse(self._fetch, skew=0.0, clock=clock)
        self._cooldown = cooldown
        self._clock = clock

    def fresh(self) -> KeySet | None:
        """The cached key set if it is fresh (no fetch due), else None; never fetches.

        Safe from any thread (see ``Reuse.fresh``).
        """
        token = self._cache.fresh()
        return None if token is None else _keys(token)

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
        token = await self._cache.token()
        keys = _keys(token)
        key = keys.find(kid, alg)
        if key is not None:
            return key
        if kid is None or kid in keys.by_kid:
            # The issuer has this key (or the token names none): a refetch
            # would not change the verdict.
            raise InvalidTokenError(f"no key of the issuer fits the token's algorithm {alg}")
        if self._fetch.fetching or self._clock() - self._fetch.last_attempt_at >= self._cooldown:
            if not self._fetch.fetching:
                logger.info("token signed with an unknown key id; refetching the JWKS")
            # Joins the fetch under way or starts one; meanwhile the cached
            # keys keep serving every other caller.
            token = await self._cache.refresh()
        key = _keys(token).find(kid, alg)
        if key is None:
            raise InvalidTokenError("the token's key id is not in the issuer's JWKS")
        return key


def _keys(token: Token) -> KeySet:
    keys: Any = token.extra.get("keys")
    if not isinstance(keys, KeySet):  # pragma: no cover - JWKSFetch always sets it
        raise ConfigError("the JWKS cache holds no key set")
    return keys
