"""TokenExchange: trade a token for another at the token endpoint (RFC 8693)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import httpx

from .._errors import ConfigError, TokenResponseError
from .._identity import identity_digest
from .._redact import safe_url
from .._source import Clock, TokenSource
from .._token import Token
from ._client_auth import ClientAuth
from ._dpop_key import DPoPKey
from ._grant import RESERVED_PARAMS, Grant
from ._subject import borrowed_client, check_source, read_subject, subject_identity

__all__ = ["TOKEN_TYPES", "TokenExchange", "token_type_uri"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
# RFC 8693 §3: the token type identifiers it defines, by their short names.
TOKEN_TYPES = {
    name: f"urn:ietf:params:oauth:token-type:{name}"
    for name in ("access_token", "refresh_token", "id_token", "saml1", "saml2", "jwt")
}


def token_type_uri(value: object, name: str) -> str:
    """A token type identifier: a short RFC 8693 name (``jwt``) or an absolute URI as it is.

    Raises:
        ConfigError: neither (the message lists the short names).
    """
    if isinstance(value, str) and value in TOKEN_TYPES:
        return TOKEN_TYPES[value]
    if isinstance(value, str) and ":" in value.strip(":") and not any(c.isspace() for c in value):
        return value
    known = ", ".join(sorted(TOKEN_TYPES))
    raise ConfigError(f"{name} must be an absolute URI or one of {known}; got {value!r}")


class TokenExchange(Grant):
    """A token source running the token exchange grant (RFC 8693).

    Each ``token()`` reads the ``subject`` (and ``actor``) source afresh —
    so a rotated workload token is what gets sent — and exchanges it for a
    new token at ``token_url``. That is how workloads without a secret get
    tokens: a Kubernetes or GitHub Actions JWT for a Google STS, Keycloak,
    OpenAI or Anthropic token. Exchanges nest: the subject may itself be a
    ``TokenExchange`` (an STS token, then impersonation). Wrap the source
    in ``reuse()`` so that one exchange serves the whole lifetime.

    Guarantees:

    1. A subject (or actor) token that has already expired is refused
       before anything is sent (``TokenExpiredError``).
    2. With ``requested_token_type``, an answer whose ``issued_token_type``
       names another type is a ``TokenResponseError``.
    3. With ``bound_to_subject=True``, the token expires no later than the
       subject token did, whatever ``expires_in`` says.
    4. The subject and actor tokens are masked, like the client's
       credentials, in every error about the answer.
    5. ``cache_identity`` names the subject by its ``iss`` and ``sub``
       (never by its value), with the requested audience, resource, scopes
       and token types: replicas of one workload share a token, two
       workloads never do.

    Args:
        token_url: the token endpoint.
        subject: the token source of the ``subject_token``.
        subject_token_type: its type: a short name (``jwt``,
            ``access_token``, ``id_token``, ...) or a URI. Default ``jwt``.
        actor: the token source of the ``actor_token`` (delegation), or None.
        actor_token_type: its type; default ``jwt`` when there is an actor.
        requested_token_type: the type asked for, or None for the server's choice.
        audience: the ``audience`` form field (a logical name of the target).
        resource: the ``resource`` form field (the target's URI).
        scopes: scopes to request (a list, or one space-separated string).
        client: the client authentication: a client-credentials source
            (``ClientCredentials``, ``PrivateKeyJWT``, ...) lends its own,
            a ``ClientAuth`` is used as it is, None sends none.
        bound_to_subject: never outlive the subject token (see 3).
        body: ``"form"`` (RFC 8693 §2.1), or ``"json"`` for the dialects
            that take the same parameters as one JSON object (OpenAI's and
            Anthropic's workload identity); answers are read alike.
        params: extra form fields; the ones the grant sets may not be set.
        http: an ``httpx.AsyncClient`` for token requests, never closed by us.
        clock: wall-clock time, for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts.
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable (the message names it).
    """

    grant_type: ClassVar[str] = GRANT_TYPE
    reserved_params: ClassVar[frozenset[str]] = RESERVED_PARAMS | {
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "requested_token_type",
        "resource",
    }

    def __init__(
        self,
        token_url: str,
        subject: TokenSource,
        *,
        subject_token_type: str = "jwt",  # noqa: S107 - a type name, not a secret
        actor: TokenSource | None = None,
        actor_token_type: str | None = None,
        requested_token_type: str | None = None,
        audience: str | None = None,
        resource: str | None = None,
        scopes: Iterable[str] | str = (),
        client: Grant | ClientAuth | None = None,
        bound_to_subject: bool = False,
        body: Literal["form", "json"] = "form",
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        self.subject = check_source(subject, "subject")
        self.subject_token_type = token_type_uri(subject_token_type, "subject_token_type")
        self.actor = None if actor is None else check_source(actor, "actor")
        if actor is None and actor_token_type is not None:
            raise ConfigError("actor_token_type is given without an actor")
        self.actor_token_type = (
            None if actor is None else token_type_uri(actor_token_type or "jwt", "actor_token_type")
        )
        self.requested_token_type = (
            None
            if requested_token_type is None
            else token_type_uri(requested_token_type, "requested_token_type")
        )
        if resource is not None and (not isinstance(resource, str) or not resource):
            raise ConfigError("resource must be a non-empty string (the target's URI)")
        self.resource = resource
        self.bound_to_subject = bool(bound_to_subject)
        super().__init__(
            token_url,
            borrowed_client(client),
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
            body=body,
        )

    def __repr__(self) -> str:
        return (
            f"TokenExchange(token_url={self.token_url!r}, subject={self.subject!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )

    def form(self) -> dict[str, str]:
        """The exchange's form without the tokens (they are read for each request)."""
        form = super().form()
        form["subject_token_type"] = self.subject_token_type
        if self.actor_token_type is not None:
            form["actor_token_type"] = self.actor_token_type
        if self.requested_token_type is not None:
            form["requested_token_type"] = self.requested_token_type
        if self.resource is not None:
            form["resource"] = self.resource
        return form

    async def token(self) -> Token:
        """Read the subject (and actor) and exchange them for a new token.

        Every call reads the subject and makes one exchange; wrap the source
        in ``reuse()`` to cache.

        Concurrency and cancellation: safe to call from many tasks at once;
        each call is an independent exchange. Cancelling a call abandons
        it (and the subject read in progress).

        Raises:
            TokenExpiredError: the subject or actor token has expired (not sent).
            TokenRequestError: the request could not be completed, or the
                subject source failed transiently (its error is the cause).
            TokenEndpointError: the endpoint refused (``invalid_grant``,
                ``invalid_target``, ``invalid_request``, ...).
            TokenResponseError: the answer was not a usable token, or not
                of the requested type.
        """
        subject = await read_subject(self.subject, "subject", self._clock)
        form = self.form()
        form["subject_token"] = subject.access_token
        presented = [subject.access_token]
        if self.actor is not None:
            actor = await read_subject(self.actor, "actor", self._clock)
            form["actor_token"] = actor.access_token
            presented.append(actor.access_token)
        answer = await self.send(form, tuple(presented))
        return self._checked(answer.result(), subject, answer.raw.url)

    def _checked(self, token: Token, subject: Token, url: str) -> Token:
        issued = token.extra.get("issued_token_type")
        # RFC 8693 §2.2.1: issued_token_type is required; some servers omit it,
        # so only a different type than the one asked for is refused.
        wanted = self.requested_token_type
        if wanted is not None and issued is not None and issued != wanted:
            where = safe_url(url or self.token_url)
            raise TokenResponseError(
                f"the token exchange at {where} issued a {issued!r} token, "
                f"not the {wanted!r} asked for",
                url=where,
            )
        ends = subject.expires_at
        outlives = ends is not None and (token.expires_at is None or token.expires_at > ends)
        if self.bound_to_subject and outlives:
            token = token.replace(expires_at=ends)
        return token

    @property
    def cache_identity(self) -> str:
        """A digest of the exchange: endpoint, client, scopes, parameters, types and subject.

        The subject (and actor) enter by their ``iss`` and ``sub`` claims
        (``subject_claims()`` of their source) or their own
        ``cache_identity`` — never by their token.

        Raises:
            ConfigError: the subject or actor source cannot say whose token it is.
        """
        material: dict[str, Any] = {
            "grant": super().cache_identity,
            "grant_type": self.grant_type,
            "form": sorted(self.form().items()),
            "subject": subject_identity(self.subject, "subject"),
            "bound_to_subject": self.bound_to_subject,
        }
        if self.actor is not None:
            material["actor"] = subject_identity(self.actor, "actor")
        return identity_digest(material)
