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
from ..wrappers import Reuse, reuse
from ..wrappers._checks import check_seconds
from ._claims import Claims, require_scopes, scope_list
from ._decode import ClaimRules, decode_claims
from ._header import read_header
from ._jwk import VerificationKey, check_algorithms
from ._jwks import Discovery, KeyCache
from ._static_keys import JWKSDocument, StaticKeys

__all__ = ["DEFAULT_MAX_TOKEN_BYTES", "JWTVerifier"]

# Real access tokens are 1-2 KiB; bounding them first makes a 1 MB header cheap to refuse.
DEFAULT_MAX_TOKEN_BYTES = 16 * 1024
# RFC 7519 §4.1: claims every access token must carry for the checks to mean anything.
_ALWAYS_REQUIRED = ("exp", "iss", "aud")


class _KeyFinder(Protocol):
    async def find(self, kid: str | None, alg: str) -> VerificationKey: ...


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
        max_token_bytes: longer tokens are refused before being parsed.
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
        self._audience = _check_audience(audience)
        self._algorithms = check_algorithms(algorithms)
        self._rules = ClaimRules(
            issuer,
            self._audience,
            _check_required(required_claims),
            check_seconds("leeway", leeway),
        )
        if isinstance(max_token_bytes, bool) or not isinstance(max_token_bytes, int):
            raise ConfigError("max_token_bytes must be an int")
        if max_token_bytes < 256:
            raise ConfigError("max_token_bytes must be at least 256")
        self._max_token_bytes = max_token_bytes
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
        else:
            discovery: Reuse = reuse(Discovery(self._issuer, http, insecure=insecure))

            async def url() -> str:
                return (await discovery.token()).access_token

        return KeyCache(url, self._http, clock=self._clock, **cache)

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

        Concurrency and cancellation: safe for any number of concurrent
        callers. A cold cache is filled by one JWKS fetch that every caller
        waits for; afterwards verification makes no I/O until the key set is
        due for refresh (then one caller refreshes while the others go on
        with the cached keys) or a token names an unknown ``kid`` (then at
        most one refetch per cool-down, which only the callers with an
        unknown ``kid`` wait for; the others go on with the cached keys).
        While no key set was ever fetched and the fetch fails, callers get
        that failure at once during a growing backoff instead of fetching
        again. Cancelling a caller affects only that caller.

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
        required = scope_list(scopes)
        alg, kid = read_header(token, self._algorithms, self._max_token_bytes)
        key = await self._keys.find(kid, alg)
        return self._claims(token, key, alg, required)

    def verify_sync(self, token: str, *, scopes: Iterable[str] | str = ()) -> Claims:
        """``verify`` without awaiting, for a verifier given ``jwks`` (its keys in hand).

        For synchronous code that holds the key set itself, such as a test
        server checking the tokens it issued. A verifier that fetches its keys
        (``jwks_url`` or discovery) cannot verify without I/O and refuses.

        Concurrency: safe from any thread; it makes no I/O and takes no lock.

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
        if not isinstance(self._keys, StaticKeys):
            raise ConfigError("only a verifier given jwks can verify without awaiting")
        required = scope_list(scopes)
        alg, kid = read_header(token, self._algorithms, self._max_token_bytes)
        return self._claims(token, self._keys.lookup(kid, alg), alg, required)

    def _claims(
        self, token: str, key: VerificationKey, alg: str, required: tuple[str, ...]
    ) -> Claims:
        claims = Claims(decode_claims(token, key, alg, self._rules, self._clock()))
        require_scopes(claims, *required)
        return claims

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"JWTVerifier(issuer={self._issuer!r}, audience={self._audience!r}, "
            f"algorithms={self._algorithms!r})"
        )


def _check_audience(audience: object) -> tuple[str, ...]:
    values = (audience,) if isinstance(audience, str) else audience
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError("audience must be a string or a non-empty sequence of strings")
    if not all(isinstance(value, str) and value for value in values):
        raise ConfigError("audience must be a string or a non-empty sequence of strings")
    return tuple(values)


def _check_required(required_claims: Iterable[str]) -> tuple[str, ...]:
    if isinstance(required_claims, str):
        required_claims = (required_claims,)
    names = tuple(dict.fromkeys((*_ALWAYS_REQUIRED, *required_claims)))
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigError("required_claims must be non-empty strings")
    return names
