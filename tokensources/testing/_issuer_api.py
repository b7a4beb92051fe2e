"""What a test can do with one issuer: register clients, sign, map claims, queue answers, throttle.

``AuthorizationServer`` (the root issuer) and ``Tenant`` (a named one) are
both an ``IssuerApi``, so a tenant is configured exactly as the server is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._clients import DEFAULT_SCOPES, DEMO_CLIENT_ID
from ._direct_tokens import issue_direct
from ._issuer_controls import IssuerControls

__all__ = ["IssuerApi"]


class IssuerApi(IssuerControls):
    """One issuer of the server, as a test drives it: identity, clients, keys, tokens.

    The per-test controls (claim mappings, quotas, queued answers, request
    log assertions) come from ``IssuerControls``.
    """

    @property
    def issuer(self) -> str:
        """The issuer URL (no trailing slash); see the class docstring for how it is chosen."""
        return self._parts.issuer.url

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL, built from the issuer."""
        return self._parts.issuer.token_endpoint

    @property
    def jwks_uri(self) -> str:
        """The JWKS URL, built from the issuer."""
        return self._parts.issuer.jwks_uri

    @property
    def token_lifetime(self) -> float:
        """Seconds an access token lives, unless its client was registered with its own."""
        return self._parts.issuer.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self._parts.issuer.token_lifetime = seconds

    @property
    def audience(self) -> str:
        """The ``aud`` of tokens by default, and what ``/api/private`` requires."""
        return self._parts.issuer.audience

    @audience.setter
    def audience(self, audience: str) -> None:
        self._parts.issuer.audience = audience

    @property
    def strict(self) -> bool:
        """Whether legacy client behaviour is refused (see "Strict mode" in the docs).

        In strict mode a client assertion's ``aud`` must be the issuer
        identifier alone, its ``typ`` header ``client-authentication+jwt``,
        and no client credential may travel in the token request's URL.
        """
        return self._parts.issuer.strict

    @strict.setter
    def strict(self, strict: bool) -> None:
        self._parts.issuer.strict = strict

    def register_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        jwks: Mapping[str, Any] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        audiences: Iterable[str] | None = None,
        token_lifetime: float | None = None,
    ) -> None:
        """Register (or replace) a client.

        A client with a ``secret`` may authenticate with ``client_secret_basic``
        or ``client_secret_post``; one with ``jwks`` (a JWK Set of public keys,
        or a single JWK) with ``private_key_jwt``; one with both, either way.

        Args:
            client_id: the client id.
            secret: the client secret.
            jwks: public keys that verify the client's assertions.
            scopes: the scopes the client may request; all of them when it
                requests none.
            audiences: the audiences (``audience`` or ``resource``) it may
                request; None allows only the issuer's ``audience``.
            token_lifetime: seconds its tokens live; None uses the issuer's.

        Raises:
            ConfigError: no credential, an empty id, or unusable keys.
        """
        self._parts.clients.register(
            client_id,
            secret,
            jwks=jwks,
            scopes=scopes,
            audiences=audiences,
            token_lifetime=token_lifetime,
        )

    def client_ids(self) -> list[str]:
        """The ids of the registered clients, sorted."""
        return self._parts.clients.ids()

    def rotate_keys(self, *, keep_old: bool = False) -> str:
        """Start signing with a fresh RSA key and return its ``kid``.

        By default the old key is withdrawn: it leaves the JWKS and tokens it
        signed are rejected by ``/api/private`` (401). With ``keep_old`` the
        old key stays published and its tokens stay valid (a key rollover).
        """
        return self._parts.keys.rotate(keep_old=keep_old).kid

    def jwks(self) -> dict[str, Any]:
        """The JWKS document the issuer publishes (a fresh copy)."""
        return self._parts.keys.jwks()

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 / OpenID discovery document, built from the issuer."""
        return self._parts.metadata.document()

    def issue_token(
        self,
        client_id: str = DEMO_CLIENT_ID,
        *,
        scope: str | Iterable[str] | None = None,
        lifetime: float | None = None,
        audience: str | list[str] | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign an access token directly, without an HTTP request.

        Not counted in ``counters`` nor logged, and claim mappings do not
        apply (they describe token requests). The client need not be registered.

        Args:
            client_id: the ``sub`` and ``client_id`` claims.
            scope: a space-separated string or a list; None gives the
                registered client's scopes (or none for an unknown client).
            lifetime: seconds until ``exp`` (fractions kept); None uses the
                client's or issuer's.
            audience: the ``aud`` claim; None uses the issuer's ``audience``.
            claims: more claims, added last as they are (they override the
                standard ones).
        """
        parts = self._parts
        return issue_direct(
            parts.issuer,
            parts.clients,
            parts.tokens,
            client_id,
            scope=scope,
            lifetime=lifetime,
            audience=audience,
            claims=claims,
        )

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Verify a token as ``/api/private`` does and return its claims.

        The same ``JWTVerifier`` checks both (without the scope check):
        the signature against the current keys, ``iss``, ``aud``, ``sub``
        present, and ``exp``, ``nbf``, ``iat`` by the server's clock.

        Raises:
            InvalidTokenError: bad signature, unknown key, wrong ``iss`` or
                ``aud``, no ``sub``, or expired by the server's clock.
        """
        return dict(self._parts.tokens.verify(token))
