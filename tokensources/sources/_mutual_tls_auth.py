"""``tls_client_auth`` and ``self_signed_tls_client_auth``: the client certificate authenticates.

RFC 8705 §2: the TLS handshake proves the client holds the certificate's
key; the form carries only ``client_id``. What the strategy adds to a grant
is its TLS context (``ssl_context``), rebuilt when the certificate files
change, and a cache key naming the certificate by thumbprint.
"""

from __future__ import annotations

import ssl

from .._identity import credential_digest
from ._certificates import ClientCertificate
from ._client_auth import ClientAuth, Credentials, check_client_id

__all__ = ["MutualTLSAuth"]


class MutualTLSAuth(ClientAuth):
    """Authenticates with a client certificate in the TLS handshake (RFC 8705 §2)."""

    __slots__ = ("certificate",)

    method = "tls_client_auth"
    client_id: str

    def __init__(self, client_id: str, certificate: ClientCertificate) -> None:
        super().__init__(check_client_id(client_id))
        self.certificate = certificate

    def __repr__(self) -> str:
        return f"MutualTLSAuth(client_id={self.client_id!r}, {self.certificate!r})"

    async def credentials(self, token_url: str) -> Credentials:
        """``client_id`` in the form (RFC 8705 §2: the certificate does the rest)."""
        return Credentials(form={"client_id": self.client_id})

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context presenting the certificate as it is now (a new one after a renewal).

        Raises:
            ConfigError: the certificate held has expired and the files hold
                no usable renewal.
        """
        return self.certificate.current().context

    def cache_key(self) -> tuple[str, str]:
        """``tls_client_auth`` and a digest of the certificate's thumbprint (never the key)."""
        thumbprint = self.certificate.current().thumbprint
        return self.method, credential_digest("tls_client_auth", thumbprint)
