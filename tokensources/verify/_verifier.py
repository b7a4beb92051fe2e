"""JWTVerifier: checks an incoming bearer JWT against the issuer's keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._http import HttpClient, check_endpoint_url
from .._source import Clock
from ..wrappers._checks import check_seconds
from ._claims import Claims, ScopeLists, check_granted
from ._decode import ClaimRules, decode_claims
from ._header import read_header
from ._jwk import KeySet, VerificationKey, check_algorithms
from ._jwks import DiscoveredJwksUri, KeyCache
from ._lru import check_cache_size
from ._static_keys import JWKSDocument, StaticKeys
from ._tokens import check_token, token_digest
from ._verified import VerifiedTokens

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_MAX_TOKEN_BYTES",
    "JWTVerifier",
    "check_audience_setting",
    "check_max_token_bytes",
    "check_required_claims",
]

# Real access tokens are 1-2 KiB; bounding them first makes a 1 MB header cheap to refuse.
DEFAULT_MAX_TOKEN_BYTES = 16 * 1024
# Verification results kept; about 2 KiB each for a typical access token.
DEFAULT_CACHE_SIZE = 10_000
# RFC 7519 §4.1: claims every access token must carry for the checks to mean anything.
_ALWAYS_REQUIRED = ("exp", "iss", "aud")


class _KeyFinder(Protocol):
    def fresh(self) -> KeySet | None: ...

    async def find(self, kid: str | None, alg: str) -> VerificationKey: ...


def check_max_token_bytes(max_token_bytes: object) -> int:
    """``max_token_bytes`` if it is an int of at least 256.

    Raises:
        ConfigError: it is not.
    """
    if isinstance(max_token_bytes, bool) or not isinstance(max_token_bytes, int):
        raise ConfigError("max_token_bytes must be an int")
    if max_token_bytes < 256:
        raise ConfigError("max_token_bytes must be at least 256")
    return max_token_bytes


class JWTVerifier(AsyncClosing):
    """Verifies bearer JWT access tokens for an API (a resource server).

    ``verify(token)`` checks, in this order: the token's size and shape; its
    header (``alg`` must be one of ``algorithms``; ``none`` and HMAC are
    never accepted, so a token "signed" with the public key as an HMAC
    secret is refused); the signature, with the issuer's key named by
    ``kid`` — a key whose type or own ``alg`` does not fit the token's
    algorithm is never used (several keys may share a ``kid``, RFC 7517
    §4.5: the first that fits is used); ``iss`` equal to ``issuer``; ``aud``
    containing one of ``audience``; ``exp`` in the future and ``nbf`` and
    ``iat`` not in the future, each with ``leeway`` seconds of tolerance.

    Keys come from the issuer's JWKS: ``jwks_url``, or else the ``jwks_uri``
    found by discovery on ``issuer`` (OpenID Connect, then RFC 8414). The
    key set is cached (see ``verify`` for the guarantees): fetched once
    for all concurrent callers, refreshed every ``jwks_max_age`` seconds,
    refetched on an unknown ``kid`` at most once per ``jwks_cooldown``, and
    kept in use for ``jwks_stale_if_error`` more seconds while the JWKS
    endpoint fails. Alternatively ``jwks`` gives the keys directly.

    Accepted tokens are remembered (up to ``cache_size`` of them, least
    recently used forgotten first) by the SHA-256 of the whole token, so a
    token seen before costs a hash and a dictionary lookup instead of a
    signature check. A remembered result is served only within the token's
    own ``exp``/``nbf``/``iat`` window (with ``leeway``) and only while the
    key that verified it is in the current key set: a JWKS rotation that
    withdraws a key withdraws every result that key vouched for. Required
    scopes are checked on every call, cached or not.

    Args:
        issuer: the exact ``iss`` the tokens carry, e.g.
            ``"https://example.eu.auth0.com/"`` (mind the trailing slash).
        audience: the API identifier(s); a token must name at least one.
        jwks_url: where the keys are; None to discover it from ``issuer``.
        jwks: a JWKS document (a mapping, or JSON text or bytes), or a
            function returning the current one, used instead of fetching
            keys: no cache, no I/O; the function is called on every
            verification and its result parsed again whenever it is a
            different object.
        algorithms: the accepted signature algorithms, asymmetric only:
            ``RS*``, ``PS*``, ``ES256``/``ES384``/``ES512``, ``EdDSA`` and its
            RFC 9864 names ``Ed25519`` and ``Ed448`` (each a separate
            choice: name both ``EdDSA`` and ``Ed25519`` to accept both).
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf``, ``iat``.
        required_claims: further claims every token must have, not null: a
            name (``"sub"``) or several.
        max_token_bytes: longer tokens are refused before being hashed or
            parsed.
        cache_size: how many verification results to remember; 0 to verify
            every token in full every time.
        jwks_max_age: seconds a fetched key set is used before a refresh.
        jwks_stale_if_error: seconds more it is used while refreshes fail.
        jwks_cooldown: minimum seconds between JWKS fetches caused by
            unknown key ids.
        http: an ``httpx.AsyncClient`` for discovery and JWKS requests
            (borrowed, never closed); None to create one, closed by ``aclose()``.
        allow_insecure_http: accept plain-http discovery and JWKS URLs on
            non-loopback hosts (only for tests: keys fetched in clear can be
            swapped by anyone on the path).
        clock: wall-clock time in epoch seconds, for expiry checks and the cache.

    Raises:
        ConfigError: an argument is out of range or an unsupported algorithm
            is named.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        jwks_url: str | None = None,
        jwks: JWKSDocument | Callable[[], JWKSDocument] | None = None,
        algorithms: Sequence[str] = ("RS256",),
        leeway: float = 5.0,
        required_claims: Iterable[str] = (),
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
        jwks_max_age: float = 600.0,
        jwks_stale_if_error: float = 3600.0,
        jwks_cooldown: float = 60.0,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        clock: Clock = time.time,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigError("issuer must be a non-empty string")
        self._issuer = issuer
        self._audience = check_audience_setting(audience)
        self._algorithms = check_algorithms(algorithms)
        self._rules = ClaimRules(
            issuer,
            self._audience,
            check_required_claims(required_claims),
            check_seconds("leeway", leeway),
        )
        self._max_token_bytes = check_max_token_bytes(max_token_bytes)
        size = check_cache_size(cache_size)
        self._verified = VerifiedTokens(size, leeway=self._rules.leeway) if size else None
        self._required = ScopeLists()
        self._clock = clock
        self._http = HttpClient(http, clock=clock)
        self._keys = self._key_finder(
            jwks_url,
            jwks,
            http,
            allow_insecure_http,
            max_age=check_seconds("jwks_max_age", jwks_max_age, positive=True),
            stale_if_error=check_seconds("jwks_stale_if_error", jwks_stale_if_error),
            cooldown=check_seconds("jwks_cooldown", jwks_cooldown),
        )

    def _key_finder(
        self,
        jwks_url: str | None,
        jwks: JWKSDocument | Callable[[], JWKSDocument] | None,
        http: httpx.AsyncClient | None,
        insecure: bool,
        **cache: float,
    ) -> _KeyFinder:
        if jwks is not None:
            if jwks_url is not None:
                raise ConfigError("pass jwks_url or jwks, not both")
            return StaticKeys(jwks)
        if jwks_url is not None:
            fixed = check_endpoint_url(jwks_url, name="jwks_url", allow_insecure_http=insecure)

            async def url() -> str:
                return fixed

            return KeyCache(url, self._http, clock=self._clock, **cache)
        discovered = DiscoveredJwksUri(self._issuer, http, insecure=insecure, clock=self._clock)
        return KeyCache(discovered, self._http, clock=self._clock, **cache)

    @property
    def issuer(self) -> str:
        """The issuer tokens must come from."""
        return self._issuer

    @property
    def audience(self) -> tuple[str, ...]:
        """The accepted audiences."""
        return self._audience

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The accepted signature algorithms."""
        return self._algorithms

    async def verify(self, token: str, *, scopes: Iterable[str] | str = ()) -> Claims:
        """Verify ``token`` and return its claims; with ``scopes``, require them too.

        A token verified before is answered from the cache (see the class
        docstring) while its key is current and it is within its lifetime;
        the scopes are checked either way.

        Concurrency and cancellation: safe for any number of concurrent
        callers. A cold cache is filled by one JWKS fetch that every caller
        waits for; afterwards verification makes no I/O until the key set is
        due for refresh (then one caller refreshes while the others go on
        with the cached keys) or a token names an unknown ``kid`` (then at
        most one refetch per cool-down, which only the callers with an
        unknown ``kid`` wait for; the others go on with the cached keys).
        While no key set was ever fetched and the fetch fails, callers get
        that failure at once during a growing backoff instead of fetching
        again. A cached result is served without suspending. Cancelling a
        caller affects only that caller.

        Args:
            token: the bearer token, without the ``Bearer`` prefix.
            scopes: scopes the token must grant (see ``require_scopes``): an
                iterable of scopes, or one space-separated string.

        Returns:
            The verified claims.

        Raises:
            InvalidTokenError: the token is not acceptable; the message names
                the failed check and never contains the token.
            InsufficientScopeError: the token is valid but lacks a scope.
            TokenSourceError: the issuer's keys could not be had (discovery or
                JWKS fetch failed with nothing cached); ``transient`` is set
                when trying later may help. This says nothing about the token.
            ConfigError: a scope in ``scopes`` is empty or not a string.
        """
        required = self._required(scopes)
        # Size and characters first: nothing is hashed or parsed before.
        check_token(token, self._max_token_bytes)
        # The key set in hand, if it is fresh (read once: a jwks function is
        # called once per verification).
        keys = self._keys.fresh()
        digest = token_digest(token) if self._verified is not None else b""
        claims = self._cached(digest, keys)
        if claims is None:
            header = read_header(token, self._algorithms, self._max_token_bytes)
            key = keys.find(header[1], header[0]) if keys is not None else None
            if key is None:
                # Not in hand: fetch, refetch for an unknown kid, or refuse.
                key = await self._keys.find(header[1], header[0])
                keys = self._keys.fresh()
            claims = self._claims(token, digest, key, header, keys)
        # Per-request checks run on every call, cached or not: the scopes of
        # the route, and (for bound tokens) the proof of possession.
        check_granted(claims, required)
        return claims

    def verify_sync(self, token: str, *, scopes: Iterable[str] | str = ()) -> Claims:
        """``verify`` without awaiting, for a verifier given ``jwks`` (its keys in hand).

        For synchronous code that holds the key set itself, such as a test
        server checking the tokens it issued. A verifier that fetches its keys
        (``jwks_url`` or discovery) cannot verify without I/O and refuses.

        Concurrency: safe from any thread; it makes no I/O and takes no
        lock but the cache's, for a few dictionary steps.

        Args:
            token: the bearer token, without the ``Bearer`` prefix.
            scopes: scopes the token must grant, as for ``verify``.

        Returns:
            The verified claims.

        Raises:
            InvalidTokenError: as ``verify``.
            InsufficientScopeError: as ``verify``.
            ConfigError: the keys are fetched (``jwks`` was not given), or a
                scope in ``scopes`` is malformed.
        """
        keys = self._keys
        if not isinstance(keys, StaticKeys):
            raise ConfigError("only a verifier given jwks can verify without awaiting")
        required = self._required(scopes)
        check_token(token, self._max_token_bytes)
        current = keys.fresh()
        digest = token_digest(token) if self._verified is not None else b""
        claims = self._cached(digest, current)
        if claims is None:
            header = read_header(token, self._algorithms, self._max_token_bytes)
            key = current.find(header[1], header[0]) or keys.lookup(header[1], header[0])
            claims = self._claims(token, digest, key, header, current)
        check_granted(claims, required)
        return claims

    def _cached(self, digest: bytes, keys: KeySet | None) -> Claims | None:
        """The remembered claims of the token with ``digest``, if they may be served now.

        Only with the current key set in hand: a result is never served from
        keys that are due for a refresh, nor while there are none.
        """
        cache = self._verified
        if cache is None or keys is None:
            return None
        return cache.get(digest, keys, self._clock())

    def _claims(
        self,
        token: str,
        digest: bytes,
        key: VerificationKey,
        header: tuple[str, str | None],
        keys: KeySet | None,
    ) -> Claims:
        """Check the signature and claims of ``token`` with ``key``; remember the result."""
        claims = Claims(decode_claims(token, key, header[0], self._rules, self._clock()))
        cache = self._verified
        if cache is not None and keys is not None:
            cache.put(digest, claims, header, key, keys)
        return claims

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"JWTVerifier(issuer={self._issuer!r}, audience={self._audience!r}, "
            f"algorithms={self._algorithms!r})"
        )


def check_audience_setting(audience: object) -> tuple[str, ...]:
    """The accepted audiences as a tuple.

    Raises:
        ConfigError: not a string or a non-empty sequence of strings.
    """
    values = (audience,) if isinstance(audience, str) else audience
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError("audience must be a string or a non-empty sequence of strings")
    if not all(isinstance(value, str) and value for value in values):
        raise ConfigError("audience must be a string or a non-empty sequence of strings")
    return tuple(values)


def check_required_claims(
    required_claims: Iterable[str], *, always: tuple[str, ...] = _ALWAYS_REQUIRED
) -> tuple[str, ...]:
    """The claims a token must carry: ``always`` and ``required_claims`` (a name or several).

    Raises:
        ConfigError: a name is empty or not a string.
    """
    if isinstance(required_claims, str):
        required_claims = (required_claims,)
    names = tuple(dict.fromkeys((*always, *required_claims)))
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigError("required_claims must be non-empty strings")
    return names
