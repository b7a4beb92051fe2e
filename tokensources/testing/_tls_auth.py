"""``tls_client_auth`` and ``self_signed_tls_client_auth`` (RFC 8705 §2): certificates authenticate.

The request presents a client certificate in the TLS handshake (the
loopback server hands it on, see ``_tls``) and names its ``client_id`` in
the form. ``tls_client_auth`` matches the certificate's subject DN against
the registration (the handshake already checked the chain against the CAs
the serving context trusts); ``self_signed_tls_client_auth`` matches the
certificate itself, by thumbprint, against the registered ones (given as
PEM or as the ``x5c`` of JWKs, RFC 8705 §2.2). Either way the client is
returned bound to the certificate, so its tokens carry ``cnf.x5t#S256``
(RFC 8705 §3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization

from ..sources._certificates import x5t_s256
from ._clients import ClientRegistry, RegisteredClient
from ._oauth_errors import invalid_client
from ._tls import SELF_SIGNED_TLS_CLIENT_AUTH, TLS_CLIENT_AUTH, presented_certificate
from ._token_request import TokenRequest

__all__ = ["SelfSignedTlsClientAuth", "TlsClientAuth"]


class _MutualTLS:
    """What the two methods share: the registration lookup and the binding."""

    name = ""
    signing_algorithms: Sequence[str] = ()

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    def _registered(self, request: TokenRequest) -> RegisteredClient | None:
        client = self._clients.get(request.form.get("client_id", ""))
        tls = client.tls if client is not None else None
        return client if tls is not None and tls.method == self.name else None

    def used_by(self, request: TokenRequest) -> bool:
        """Whether the form names a client registered for this method."""
        return self._registered(request) is not None

    def claimed_client_id(self, request: TokenRequest) -> str | None:
        """The form's ``client_id``."""
        return request.form.get("client_id")

    def authenticate(self, request: TokenRequest) -> RegisteredClient:
        """The client, bound to the certificate the request presented.

        Raises:
            OAuthError: ``invalid_client`` without a certificate, or with
                one that is not the registered one.
        """
        client = self._registered(request)
        certificate = presented_certificate(request.headers)
        if client is None or client.tls is None:  # pragma: no cover - used_by() said so
            raise invalid_client("the client is not registered for mutual TLS")
        if certificate is None:
            raise invalid_client(f"{self.name} needs a client certificate in the TLS handshake")
        thumbprint = x5t_s256(certificate.public_bytes(serialization.Encoding.DER))
        tls = client.tls
        if tls.subject_dn is not None and certificate.subject.rfc4514_string() != tls.subject_dn:
            raise invalid_client("the client certificate's subject is not the registered one")
        if tls.thumbprints and thumbprint not in tls.thumbprints:
            raise invalid_client("the client certificate is not a registered certificate")
        return dataclasses.replace(client, bound_to=thumbprint)


class TlsClientAuth(_MutualTLS):
    """``tls_client_auth``: a CA-issued certificate with the registered subject DN."""

    name = TLS_CLIENT_AUTH


class SelfSignedTlsClientAuth(_MutualTLS):
    """``self_signed_tls_client_auth``: one of the client's registered certificates."""

    name = SELF_SIGNED_TLS_CLIENT_AUTH
