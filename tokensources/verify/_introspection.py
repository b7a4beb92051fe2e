"""Introspection: verify any token, opaque ones included, by asking its issuer (RFC 7662)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import httpx

from .._closing import AsyncClosing
from .._errors import ConfigError
from .._http import HttpClient, check_endpoint_url
from .._source import Clock
from .._wire import basic_authorization
from ..wrappers._checks import check_seconds
from ._answers import Answers
from ._claims import Claims, ScopeLists, check_granted
from ._introspection_wire import (
    MAX_INTROSPECTION_BYTES,
    Answer,
    IntrospectionRules,
    judge,
    read_answer,
)
from ._lru import check_cache_size
from ._tokens import check_token
from ._verifier import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_MAX_TOKEN_BYTES,
    check_audience_setting,
    check_max_token_bytes,
    check_required_claims,
)

__all__ = ["Introspection"]


def _check_client(client: object) -> tuple[str, str]:
    # The message never shows the pair: it holds the secret.
    if (
        not isinstance(client, tuple)
        or len(client) != 2
        or not all(isinstance(part, str) and part for part in client)
    ):
        raise ConfigError("client must be a (client_id, client_secret) pair of non-empty strings")
    return client[0], client[1]


class Introspection(AsyncClosing):
    """Verifies access tokens by asking the authorization server about them (RFC 7662).

    For tokens the resource cannot check itself — opaque tokens, or JWTs
    whose revocation must be seen before they expire. ``verify(token,
    scopes=...)`` keeps ``JWTVerifier``'s contract, so ``BearerAuth`` and
    ``authenticate`` take either: it returns ``Claims`` (the members of the
    answer: ``scope``, ``client_id``, ``sub``, ``aud``, ``exp``, ...) or
    raises ``InvalidTokenError``/``InsufficientScopeError``.

    Each verification that is not answered from the cache is one ``POST``
    of the token to ``url``, authenticated as the resource server's own
    client with HTTP Basic (``client_secret_basic``, RFC 7662 §2.1, RFC 6749
    §2.3.1). A token is accepted only when the answer says ``"active":
    true`` and its claims pass the checks: ``aud`` names one of
    ``audience`` (unless ``audience=None``), an ``iss`` in the answer equals
    ``issuer`` (when given), ``exp``, ``nbf`` and ``iat`` hold at the
    verifier's clock with ``leeway``, and every ``required_claims`` is
    there.

    The verdicts are cached by the SHA-256 of the token: concurrent
    verifications of one token make one request; an acceptance is kept
    until the token's ``exp`` or for ``cache_max_age`` seconds, whichever
    is first (so a revoked token is refused at most ``cache_max_age``
    seconds later); a refusal for ``inactive_max_age`` seconds.

    It never fails open. When the endpoint cannot be reached, answers
    anything but 200, refuses the resource server's credentials, or sends
    a body that is not an introspection answer, ``verify`` raises that
    error (a ``TokenSourceError``, not ``InvalidTokenError``: the token may
    be fine), ``BearerAuth`` answers 503, and for a backoff (from
    ``failure_backoff`` seconds, doubling, never shorter than the
    endpoint's ``Retry-After``) tokens without a cached verdict get that
    error at once instead of each making a request.

    Args:
        url: the introspection endpoint (the ``introspection_endpoint`` of
            the issuer's metadata, RFC 8414).
        client: the resource server's own ``(client_id, client_secret)`` at
            the authorization server, sent with HTTP Basic. Never shown in a
            message, ``repr`` or log.
        audience: the resource's identifier(s): an answer's ``aud`` must name
            one. None accepts tokens for any audience — only for an
            authorization server that answers for this resource's tokens
            alone.
        issuer: when given, an answer's ``iss`` (if it has one) must be
            exactly this; also what ``ResourceMetadata.for_verifier``
            announces.
        required_claims: claims every answer must carry, not null.
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf``, ``iat``.
        max_token_bytes: longer tokens are refused before being hashed or sent.
        cache_size: how many verdicts to keep; 0 to ask about every
            verification (no single flight either).
        cache_max_age: seconds an acceptance is kept (never past ``exp``).
        inactive_max_age: seconds a refusal is kept.
        failure_backoff: seconds of the first backoff after a failed request.
        http: an ``httpx.AsyncClient`` for the requests (borrowed, never
            closed); None to create one, closed by ``aclose()``.
        allow_insecure_http: accept a plain-http ``url`` to a non-loopback
            host (only for tests: the token and the secret would travel in
            clear).
        clock: wall-clock time in epoch seconds, for the claim checks and
            the cache.

    Raises:
        ConfigError: an argument is out of range or malformed.
    """

    def __init__(
        self,
        url: str,
        *,
        client: tuple[str, str],
        audience: str | Sequence[str] | None,
        issuer: str | None = None,
        required_claims: Iterable[str] = (),
        leeway: float = 5.0,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_max_age: float = 60.0,
        inactive_max_age: float = 5.0,
        failure_backoff: float = 1.0,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self._url = check_endpoint_url(url, name="url", allow_insecure_http=allow_insecure_http)
        self._client_id, secret = _check_client(client)
        self._authorization = basic_authorization(self._client_id, secret)
        # Masked in everything said about an answer (a server that echoes them).
        self._secrets = (secret, self._authorization)
        if issuer is not None and (not isinstance(issuer, str) or not issuer):
            raise ConfigError("issuer must be a non-empty string or None")
        self._issuer = issuer
        self._audience = None if audience is None else check_audience_setting(audience)
        self._rules = IntrospectionRules(
            issuer=issuer,
            audience=self._audience,
            required=check_required_claims(required_claims, always=()),
            leeway=check_seconds("leeway", leeway),
            max_age=check_seconds("cache_max_age", cache_max_age),
            inactive_max_age=check_seconds("inactive_max_age", inactive_max_age),
        )
        self._max_token_bytes = check_max_token_bytes(max_token_bytes)
        self._clock = clock
        self._http = HttpClient(http, clock=clock)
        size = check_cache_size(cache_size)
        backoff = check_seconds("failure_backoff", failure_backoff, positive=True)
        self._answers = (
            Answers(self._ask, size=size, clock=clock, failure_backoff=backoff) if size else None
        )
        self._required = ScopeLists()

    @property
    def url(self) -> str:
        """The introspection endpoint."""
        return self._url

    @property
    def issuer(self) -> str | None:
        """The issuer answers must name, if one was given."""
        return self._issuer

    @property
    def audience(self) -> tuple[str, ...] | None:
        """The accepted audiences, or None when any is accepted."""
        return self._audience

    async def verify(self, token: str, *, scopes: Iterable[str] | str = ()) -> Claims:
        """Verify ``token`` by introspection and return its claims; with ``scopes``, require them.

        Concurrency and cancellation: safe for any number of concurrent
        callers; concurrent verifications of one token share one request
        (and its error, the same instance for all). A cached verdict is
        served without I/O. Cancelling the caller whose request is under
        way abandons that request; a caller waiting for the same token then
        makes it, so nobody is left hanging. Use it from one event loop at a
        time.

        Args:
            token: the bearer token, without the ``Bearer`` prefix.
            scopes: scopes the token must grant (see ``require_scopes``): an
                iterable of scopes, or one space-separated string.

        Returns:
            The claims of the active token.

        Raises:
            InvalidTokenError: the token is too long or not ASCII (refused
                before any hashing or request), not active, or its claims fail
                a check; the message says which and never holds the token.
            InsufficientScopeError: the token is active but lacks a scope.
            TokenSourceError: the endpoint could not be asked or did not
                answer as RFC 7662 says (``TokenRequestError``,
                ``TokenEndpointError``, ``TokenResponseError``); ``transient``
                says whether trying later may help. Never an acceptance.
            ConfigError: a scope in ``scopes`` is malformed.
        """
        required = self._required(scopes)
        check_token(token, self._max_token_bytes)
        answers = self._answers
        answer = await (answers.get(token) if answers is not None else self._ask(token))
        claims = answer.result()
        check_granted(claims, required)
        return claims

    async def _ask(self, token: str) -> Answer:
        """One introspection request for ``token``, and the verdict on its answer."""
        raw = await self._http.request(
            "POST",
            self._url,
            # RFC 7662 §2.1: the token, with a hint of what it is.
            data={"token": token, "token_type_hint": "access_token"},
            headers={"Authorization": self._authorization, "Accept": "application/json"},
            max_body=MAX_INTROSPECTION_BYTES,
        )
        fields = read_answer(raw, secrets=(token, *self._secrets))
        # Judged at the time of the answer, not of the request.
        return judge(fields, self._rules, self._clock())

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"Introspection(url={self._url!r}, client_id={self._client_id!r}, "
            f"audience={self._audience!r})"
        )
