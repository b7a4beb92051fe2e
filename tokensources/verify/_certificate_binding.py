"""Certificate-bound tokens at the resource (RFC 8705 §3): ``cnf.x5t#S256`` against the request.

A token bound to a client certificate names the certificate's SHA-256
thumbprint in ``cnf.x5t#S256``; it is accepted only from a request that
presented that certificate in its TLS handshake. The certificate comes from
the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``,
the leaf first, as PEM) when the server terminates TLS itself, or from a
callable the application supplies when a proxy terminates it and forwards
the certificate (nginx's ``$ssl_client_escaped_cert``, Envoy's
``x-forwarded-client-cert``): only the application knows which header its
proxy sets and strips.

A token without ``cnf.x5t#S256`` is not bound, and is not checked here; a
token whose ``cnf`` or ``cnf.x5t#S256`` is malformed is refused (see
``verify._confirmation``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._errors import InvalidTokenError
from ..sources._certificates import x5t_s256
from ._confirmation import confirmation

__all__ = ["CertificateGetter", "bound_thumbprint", "check_certificate_binding", "tls_certificate"]

CertificateGetter = Callable[[Mapping[str, Any]], "bytes | str | None"]
"""Given the ASGI scope, the client certificate: DER bytes, PEM (bytes or str, URL-encoded
or not), or None when the request presented none."""


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.x5t#S256`` of verified claims, or None for a token that is not so bound.

    Raises:
        InvalidTokenError: ``cnf`` is not an object, or ``cnf.x5t#S256``
            not a non-empty string.
    """
    return confirmation(claims, "x5t#S256")


def tls_certificate(scope: Mapping[str, Any]) -> str | None:
    """The client certificate of the ASGI TLS extension (PEM), or None."""
    extensions = scope.get("extensions")
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    if isinstance(chain, (list, tuple)) and chain and isinstance(chain[0], str):
        return chain[0]
    return None


def _thumbprint(certificate: bytes | str) -> str | None:
    """The ``x5t#S256`` of a DER or PEM certificate; None when it is neither."""
    data = certificate.encode("ascii", "replace") if isinstance(certificate, str) else certificate
    loaded: x509.Certificate | None = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        if data.startswith((b"-----", b"%2D")):  # PEM, perhaps URL-encoded by a proxy
            loaded = x509.load_pem_x509_certificate(unquote(data.decode("ascii")).encode("ascii"))
        else:
            loaded = x509.load_der_x509_certificate(data)
    if loaded is None:
        return None
    return x5t_s256(loaded.public_bytes(serialization.Encoding.DER))


def check_certificate_binding(claims: Mapping[str, Any], certificate: bytes | str | None) -> None:
    """Refuse a certificate-bound token presented without its certificate (RFC 8705 §3).

    Args:
        claims: the token's verified claims.
        certificate: the certificate the request presented (DER, or PEM
            possibly URL-encoded), or None.

    Raises:
        InvalidTokenError: the token is bound, and the request presented no
            certificate, an unreadable one, or another one; or its ``cnf``
            claim is malformed.
    """
    bound = bound_thumbprint(claims)
    if bound is None:
        return
    presented = None if certificate is None else _thumbprint(certificate)
    if presented != bound:
        raise InvalidTokenError(
            "the token is bound to a client certificate this request did not present"
        )
