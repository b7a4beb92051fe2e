"""MutualTLS: the client_credentials grant authenticated by a client certificate (RFC 8705)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import ConfigError
from .._source import Clock
from .._token import Token
from ._certificates import CertificateInput, ClientCertificate
from ._client_auth import check_method_supported
from ._discovery import discover
from ._dpop_key import DPoPKey
from ._grant import ClientCredentialsGrant
from ._jwt_claims import unverified_claims
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
    certificate (``cnf.x5t#S256``, RFC 8705 §3): present it to the API over
    a connection made with ``ssl_context()``.

    Guarantees:

    1. **Checked when built.** The key must be the certificate's, the
       certificate valid now, an encrypted key given its password; any
       failure is a ``ConfigError`` naming it, never key material.
    2. **Renewals are followed.** Given file paths, the files are looked at
       (``os.stat``) before every token request; a renewed certificate
       (cert-manager, SPIFFE X.509-SVIDs rewrite in place) gives a new
       ``ssl_context()`` and a new HTTP client for token requests, so the
       next token is bound to the new certificate.
    3. **Discovery uses the mTLS aliases.** ``from_issuer()`` takes the
       token endpoint from ``mtls_endpoint_aliases`` when the metadata has
       one (RFC 8705 §5); its ``http=`` serves discovery only.

    Each ``token()`` call requests a new token; wrap it in ``reuse()`` to cache.

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

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context that presents the client certificate, for the API client.

        Build the API's ``httpx.AsyncClient(verify=source.ssl_context())``:
        a certificate-bound token is accepted only over a connection that
        presents the same certificate. The same object is returned until
        the certificate files change; then a new one (and the next token is
        bound to the new certificate).

        Raises:
            ConfigError: the certificate files changed into something unusable.
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
        """
        cnf = (unverified_claims(token.access_token) or {}).get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
        return bound is None or bound == self.certificate_thumbprint

    @property
    def certificate_thumbprint(self) -> str:
        """The current certificate's ``x5t#S256``: what a bound token's ``cnf`` names."""
        return self._client.certificate.current().thumbprint
