"""MutualTLS: the client_credentials grant authenticated by a client certificate (RFC 8705)."""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import ConfigError
from .._source import Clock
from .._token import Token
from ._certificate_routes import bound_thumbprint
from ._certificate_transport import CertificateTransport, SyncCertificateTransport
from ._certificates import CertificateInput, ClientCertificate, LoadedCertificate
from ._client_auth import check_method_supported
from ._discovery import discover
from ._dpop_key import DPoPKey
from ._grant import ClientCredentialsGrant
from ._mutual_tls_auth import MutualTLSAuth

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MutualTLS"]


class MutualTLS(ClientCredentialsGrant):
    """A token source for the client_credentials grant with mutual-TLS client authentication.

    For ``tls_client_auth`` (a certificate from a CA the provider trusts,
    matched by subject) and ``self_signed_tls_client_auth`` (a registered
    self-signed certificate) alike (RFC 8705 §2): the TLS handshake proves
    the client holds the certificate's key, and the form carries only
    ``client_id``. The token that comes back may be *bound* to the
    certificate (``cnf.x5t#S256``, RFC 8705 §3): send API requests through
    ``transport()``, which presents the certificate each token is bound to.

    Guarantees:

    1. **Checked when built.** The key must be the certificate's, the
       certificate valid now, an encrypted key given its password; any
       failure is a ``ConfigError`` naming it, never key material.
    2. **Renewals are followed.** Given file paths, the files are looked at
       (``os.stat``) before every token request; a renewed certificate
       (cert-manager, SPIFFE X.509-SVIDs rewrite in place) gives a new
       ``ssl_context()`` and a new HTTP client for token requests, so the
       next token is bound to the new certificate.
    3. **Tokens meet their certificate.** ``transport()`` sends every API
       request over the certificate its token is bound to, the old one
       included while its tokens are in use after a renewal.
    4. **Discovery uses the mTLS aliases.** ``from_issuer()`` takes the
       token endpoint from ``mtls_endpoint_aliases`` when the metadata has
       one (RFC 8705 §5); its ``http=`` serves discovery only.
    5. **Half-written files do not fail requests.** Files caught while
       being rewritten leave the certificate loaded in use while it is
       valid (a warning is logged); only building the source is strict.

    Each ``token()`` call requests a new token (but see ``token()`` for a
    token capped at the certificate's end); wrap it in ``reuse()`` to cache.

    Args:
        token_url: the token endpoint (its mTLS alias, when the provider has one).
        client_id: the client identifier.
        certificate: the client certificate, as a file path or PEM; a chain
            may follow it in the same file.
        private_key: its private key, as a file path or PEM, optionally encrypted.
        key_password: the password of an encrypted key (from a secret store,
            never the command line).
        ca: CA certificates (path or PEM) that verify the token endpoint's
            certificate; None for the system's trust store.
        scopes: scopes to request (a list, or one space-separated string).
        audience: shortcut for ``params={"audience": ...}``.
        params: extra form fields (``resource``, ...).
        clock: wall-clock time, for the certificate's validity and for expiry.
        allow_insecure_http: permit ``http://`` to non-loopback hosts (which
            carries no certificate: only for tests behind a TLS proxy).
        dpop: a ``DPoPKey`` to bind the tokens to (RFC 9449, see the DPoP
            page); every token request then carries a fresh proof.

    Raises:
        ConfigError: an argument is not acceptable (see guarantee 1), or
            ``http=`` was given: the source makes its own client, with its
            certificate.
    """

    _client: MutualTLSAuth

    def __init__(
        self,
        token_url: str,
        client_id: str,
        *,
        certificate: CertificateInput,
        private_key: CertificateInput,
        key_password: bytes | str | None = None,
        ca: CertificateInput | None = None,
        scopes: Iterable[str] | str = (),
        audience: str | None = None,
        params: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        allow_insecure_http: bool = False,
        dpop: DPoPKey | None = None,
    ) -> None:
        loaded = ClientCertificate(
            certificate, private_key, key_password=key_password, ca=ca, clock=clock
        )
        # The last token capped at the current certificate's end, and that
        # certificate: returned again until a renewal (see token()).
        self._capped: tuple[LoadedCertificate, Token] | None = None
        super().__init__(
            token_url,
            MutualTLSAuth(client_id, loaded),
            scopes=scopes,
            audience=audience,
            params=params,
            http=http,
            clock=clock,
            allow_insecure_http=allow_insecure_http,
            dpop=dpop,
        )

    @classmethod
    async def from_issuer(
        cls,
        issuer: str,
        *args: Any,
        http: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Build the source for ``issuer``, discovering its (mTLS) token endpoint.

        As ``ClientCredentialsGrant.from_issuer``, except that ``http``, when
        given, serves the discovery request only: token requests need the
        source's own client, which presents the certificate.

        Raises:
            ConfigError: the issuer URL is not acceptable, or its metadata
                has no usable token endpoint.
            TokenSourceError: the metadata could not be fetched.
        """
        metadata = await discover(issuer, http=http, allow_insecure_http=allow_insecure_http)
        token_url = cls._settings_from_metadata(metadata, kwargs)
        if not isinstance(token_url, str):
            raise ConfigError(f"the metadata of issuer {issuer!r} has no token_endpoint")
        return cls(token_url, *args, allow_insecure_http=allow_insecure_http, **kwargs)

    @classmethod
    def _settings_from_metadata(cls, metadata: Mapping[str, Any], kwargs: dict[str, Any]) -> Any:
        """The token endpoint's mTLS alias when there is one (RFC 8705 §5), else the endpoint."""
        check_method_supported(metadata, ("tls_client_auth", "self_signed_tls_client_auth"))
        aliases = metadata.get("mtls_endpoint_aliases")
        alias = aliases.get("token_endpoint") if isinstance(aliases, Mapping) else None
        if isinstance(alias, str) and alias:
            return alias
        return super()._settings_from_metadata(metadata, kwargs)

    async def token(self) -> Token:
        """Request a new token, presenting the client certificate as it is now.

        A token bound to the certificate never outlives it: its
        ``expires_at`` (and ``refresh_at``) is at most the certificate's
        end of validity, since no connection can present the certificate
        after that. A cache then refreshes it in time, with the renewed
        certificate, instead of holding a token nothing can present.

        While the certificate is not renewed, such a capped token is
        returned again instead of requesting another: any new token would
        end at the same instant, so a cache refreshing it ahead of expiry
        (``buffer()``) would only make request after request as the end
        nears. Once the files hold a renewal, or the token was invalidated
        (``invalidate()``, as ``reuse()`` does on a 401), a new one is
        requested.

        Concurrency and cancellation: as ``ClientCredentialsGrant.token()``.

        Raises:
            TokenRequestError: the request could not be completed.
            TokenEndpointError: the endpoint answered with an error.
            TokenResponseError: the answer was not a usable token.
            ConfigError: the certificate held has expired and the files hold
                no usable renewal (files caught while being rewritten are
                not an error while the certificate held is valid).
        """
        capped = self._capped
        if capped is not None:
            version, token = capped
            if self._client.certificate.current() is version:  # a stat; raises once expired
                return token
            self._capped = None
        return self._within_certificate(await super().token())

    def invalidate(self, token: Token) -> None:
        """Forget ``token`` if it is the capped one kept (see ``token()``): the next is new."""
        capped = self._capped
        if capped is not None and capped[1].access_token == token.access_token:
            self._capped = None

    def _within_certificate(self, token: Token) -> Token:
        bound = bound_thumbprint(token.access_token)
        versions = {each.thumbprint: each for each in self._client.certificate.recent}
        version = versions.get(bound) if bound is not None else None
        not_after = None if version is None else version.not_after
        if not_after is None or (token.expires_at is not None and token.expires_at <= not_after):
            return token
        refresh_at = token.refresh_at
        if refresh_at is not None and refresh_at > not_after:
            refresh_at = not_after
        capped = dataclasses.replace(token, expires_at=not_after, refresh_at=refresh_at)
        if version is self._client.certificate.recent[-1]:
            self._capped = version, capped
        return capped

    def transport(self, **settings: Any) -> httpx.AsyncBaseTransport:
        """An ``httpx.AsyncClient`` transport that presents the certificate each token is bound to.

        Build the API client with
        ``httpx.AsyncClient(transport=source.transport(), auth=TokenAuth(cached))``.
        Every request goes out over a connection presenting the certificate
        its token names (``cnf.x5t#S256``), so that no request ever pairs a
        token with a certificate it is not bound to — across renewals too:

        - after the certificate files are renewed, tokens bound to the old
          certificate (still cached, or in flight) keep going over the old
          certificate, while tokens bound to the new one go over the new
          one; two versions are held at most, and the older one's
          connections are closed once it expires or the next renewal
          comes, after its last response;
        - a token that is not bound goes over the current certificate;
        - a token bound to a certificate the transport has not seen (the
          renewal was learnt by another source sharing the token cache)
          makes it look at the files, once per token, and go over that
          certificate when they hold it;
        - a token bound to a certificate no longer held (expired, or two
          renewals ago) goes over the current one: the API answers 401 and
          ``TokenAuth`` resends with a fresh token, bound to it.

        A new ``ca`` bundle, chain or key under the same certificate is a
        new inner transport too. Per request this costs a dictionary
        lookup while the token is one of the last few in use; a new
        token's claims are read once. Closing the client (or the
        transport) closes every inner transport.

        Args:
            settings: keyword arguments for each inner
                ``httpx.AsyncHTTPTransport`` (``http2``, ``limits``,
                ``retries``, ``proxy``, ...), except ``verify`` and ``cert``:
                the TLS context is the certificate's, with the source's ``ca``.

        Raises:
            ConfigError: ``verify`` or ``cert`` was given.
        """
        return CertificateTransport(self._client.certificate, clock=self._clock, **settings)

    def sync_transport(self, **settings: Any) -> httpx.BaseTransport:
        """The ``httpx.Client`` twin of ``transport()``, with the same routing.

        ``httpx.Client(transport=source.sync_transport(), auth=TokenAuth(cached))``;
        ``settings`` go to each inner ``httpx.HTTPTransport``. Safe for use
        from many threads at once.

        Raises:
            ConfigError: ``verify`` or ``cert`` was given.
        """
        return SyncCertificateTransport(self._client.certificate, clock=self._clock, **settings)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context that presents the current client certificate.

        For clients other than httpx (aiohttp, ...); with httpx, use
        ``transport()``. A certificate-bound token is accepted only over a
        connection that presents the same certificate. The same object is
        returned until the certificate files change; then a new one (and
        the next token is bound to the new certificate). A client built
        with one context presents that certificate for good: after a
        renewal, a token bound to the new certificate sent over it, or one
        bound to the old certificate sent over a client built with the new
        context, is refused (401): rebuild such a client after a renewal.
        Check tokens with ``bound_to_current()``.

        Raises:
            ConfigError: the certificate held has expired and the files hold
                no usable renewal.
        """
        return self._client.ssl_context()

    def bound_to_current(self, token: Token) -> bool:
        """Whether ``token`` may be presented with the current certificate.

        True for a token that is not certificate-bound (no ``cnf.x5t#S256``
        in it, or not a JWT) and for one bound to the current certificate;
        False for one bound to a certificate that has since been renewed —
        invalidate it at the cache (``cached.invalidate(token)``) rather
        than present it over a connection made with the new context.
        The token's claims are read, not verified: it is your own token.
        ``transport()`` makes this check unnecessary for httpx clients.

        Raises:
            ConfigError: the certificate held has expired and the files hold
                no usable renewal.
        """
        bound = bound_thumbprint(token.access_token)
        return bound is None or bound == self.certificate_thumbprint

    @property
    def certificate_thumbprint(self) -> str:
        """The current certificate's ``x5t#S256``: what a bound token's ``cnf`` names.

        Raises:
            ConfigError: the certificate held has expired and the files hold
                no usable renewal.
        """
        return self._client.certificate.current().thumbprint
