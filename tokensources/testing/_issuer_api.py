"""What a test can do with one issuer: register clients, sign, map claims, queue answers, throttle.

``AuthorizationServer`` (the root issuer) and ``Tenant`` (a named one) are
both an ``IssuerApi``, so a tenant is configured exactly as the server is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._clients import DEFAULT_SCOPES, DEMO_CLIENT_ID
from ._direct_tokens import issue_direct
from ._dpop import TokenEndpointDPoP
from ._federation import KeysInput, trust
from ._introspection import IntrospectionEndpoint
from ._issuer_controls import IssuerControls
from ._paths import INTROSPECTION_PATH
from ._tls import tls_registration

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
    def introspection_endpoint(self) -> str:
        """The RFC 7662 introspection endpoint URL, built from the issuer."""
        return self._parts.issuer.url + INTROSPECTION_PATH

    @property
    def dpop(self) -> TokenEndpointDPoP:
        """DPoP (RFC 9449) at this issuer's token endpoint: who must use it, nonces, counters.

        Change its settings at any time: ``require(client_id)``,
        ``require_nonce``, ``rotate_nonce()``, ``supported``; read
        ``counters`` for the proofs, nonce challenges and bound tokens seen.
        """
        dpop = self._parts.dpop
        assert dpop is not None  # noqa: S101 - assemble() always makes one
        return dpop

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
        identifier alone, its ``typ`` header ``client-authentication+jwt``
        and its ``jti`` never seen before (even once expired); no client
        credential may travel in the token request's URL, nor the request
        over plain http behind a proxy (``X-Forwarded-Proto: http``); and
        ``expires_in`` is the exact lifetime, fraction included.
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

    def register_federated_client(
        self,
        client_id: str,
        *,
        issuer: str,
        subject: str,
        keys: KeysInput,
        assertion_audience: str | Iterable[str] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        audiences: Iterable[str] | None = None,
        token_lifetime: float | None = None,
    ) -> None:
        """Register (or replace) a client that authenticates with another issuer's JWTs.

        The client holds no secret or key: it sends a JWT from ``issuer``
        about ``subject`` (a Kubernetes service-account token, a GitHub
        Actions ID token, a workload issuer's token) as its
        ``client_assertion``, with ``client_assertion_type``
        ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and its
        ``client_id``, as Entra ID's federated credentials and Keycloak's
        federated clients accept. The JWT must be signed by one of ``keys``,
        carry that ``iss`` and ``sub`` and an accepted ``aud``, and not be
        expired. The same JWT may be sent again until it expires (platform
        tokens are not minted per request), so no ``jti`` is required.

        Args:
            client_id: the client id, which the request must send.
            issuer: the external issuer's identifier (the JWT's ``iss``).
            subject: the ``sub`` the JWT must carry.
            keys: the external issuer's public keys: a JWK Set or one JWK,
                or a callable returning the current JWK Set (asked at each
                request, so keys it rotates are followed).
            assertion_audience: the ``aud`` values accepted (one suffices);
                None accepts this server's issuer and token endpoint URLs.
            scopes: the scopes the client may request.
            audiences: the token audiences it may request; None allows only
                the issuer's ``audience``.
            token_lifetime: seconds its tokens live; None uses the issuer's.

        Raises:
            ConfigError: an empty id, issuer or subject, or unusable keys.
        """
        federation = trust(issuer=issuer, subject=subject, keys=keys, audiences=assertion_audience)
        self._parts.clients.register(
            client_id,
            scopes=scopes,
            audiences=audiences,
            token_lifetime=token_lifetime,
            federation=federation,
        )

    def register_tls_client(
        self,
        client_id: str,
        *,
        subject_dn: str | None = None,
        certificate: bytes | str | Iterable[bytes | str] | None = None,
        jwks: Mapping[str, Any] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        audiences: Iterable[str] | None = None,
        token_lifetime: float | None = None,
    ) -> None:
        """Register (or replace) a client that authenticates with a TLS client certificate.

        With ``subject_dn`` the client uses ``tls_client_auth`` (RFC 8705
        §2.1): a certificate chaining to a CA the serving TLS context trusts,
        whose subject DN (RFC 4514, e.g. ``"CN=billing,O=Example"``) is this
        one. With ``certificate`` (one PEM or several) it uses
        ``self_signed_tls_client_auth`` (§2.2): one of these very
        certificates, which the serving context must also trust
        (``context.load_verify_locations(cadata=pem)``). Tokens issued to it
        are bound to the certificate presented (``cnf.x5t#S256``), and
        ``/api/private`` accepts them only with that certificate.

        Serve with ``serve(tls=context)``, the context asking for client
        certificates (``verify_mode = ssl.CERT_OPTIONAL``). In-process, the
        ``x-ssl-client-cert`` header (the URL-encoded PEM) stands for the
        handshake, as a TLS-terminating proxy's would.

        With ``jwks`` instead of ``certificate`` (a JWK Set, or one JWK, of
        public keys each carrying its self-signed certificate in ``x5c``,
        standard base64 of the DER), it uses ``self_signed_tls_client_auth``
        with the certificates as providers register them (RFC 8705 §2.2):
        the presented certificate must be the first ``x5c`` entry of one of
        the keys.

        Raises:
            ConfigError: not exactly one of ``subject_dn``, ``certificate``
                and ``jwks``; a certificate that is not PEM; a JWK without
                ``x5c``, with an unreadable one, or whose certificate holds
                another key.
        """
        self._parts.clients.register(
            client_id,
            scopes=scopes,
            audiences=audiences,
            token_lifetime=token_lifetime,
            tls=tls_registration(subject_dn, certificate, jwks),
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

    def issue_opaque_token(
        self,
        client_id: str = DEMO_CLIENT_ID,
        *,
        scope: str | Iterable[str] | None = None,
        lifetime: float | None = None,
        audience: str | list[str] | None = None,
    ) -> str:
        """Hand out an opaque access token (random, not a JWT), without an HTTP request.

        Only introspection can verify it: the issuer's introspection endpoint
        answers it as active, with ``iss``, ``sub``, ``client_id``, ``aud``,
        ``scope``, ``iat`` and ``exp``, until it expires or is revoked.
        The defaults are those of ``issue_token``.
        """
        return self._introspection.issue_opaque(
            client_id, scope=scope, lifetime=lifetime, audience=audience
        )

    def revoke_token(self, token: str) -> None:
        """Revoke an access token (signed or opaque): introspection answers it inactive from now on.

        Only introspection sees this: a signed token stays valid to verifiers
        that check its signature themselves (``/api/private`` included) until
        it expires.
        """
        self._introspection.revoke(token)

    @property
    def _introspection(self) -> IntrospectionEndpoint:
        introspection = self._parts.introspection
        assert introspection is not None  # noqa: S101 - assemble() always makes one
        return introspection

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
