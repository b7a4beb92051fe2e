"""Mutual TLS at the testing server: the client certificate a request presented, and bindings.

The loopback server terminates TLS itself and hands each request's client
certificate to the app twice, as a TLS-terminating proxy would: in the
ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``)
and in the ``CLIENT_CERT_HEADER`` header (the URL-encoded PEM, like nginx's
``$ssl_client_escaped_cert``). Any such header a client sends itself is
removed first, so over loopback the header says what the handshake proved.
In-process (``server.client()``) there is no handshake: a test may set the
header, playing the proxy.

A certificate-bound access token (RFC 8705 §3) carries
``cnf: {"x5t#S256": <thumbprint>}``; ``/api/private`` accepts it only
from a request presenting that certificate.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._errors import ConfigError
from ..sources._certificates import x5t_s256
from ..verify._certificate_binding import check_certificate_binding
from ._public_keys import load_jwks

__all__ = [
    "CLIENT_CERT_HEADER",
    "SELF_SIGNED_TLS_CLIENT_AUTH",
    "TLS_CLIENT_AUTH",
    "TlsRegistration",
    "binding_claims",
    "certificate_header",
    "check_binding",
    "presented_certificate",
    "thumbprint_of_pem",
    "tls_registration",
    "x5c_thumbprints",
]

CLIENT_CERT_HEADER = "x-ssl-client-cert"
TLS_CLIENT_AUTH = "tls_client_auth"
SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"


def certificate_header(der: bytes) -> bytes:
    """The header value for a DER certificate: its PEM, URL-encoded."""
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    return quote(pem.decode("ascii"), safe="").encode("ascii")


def presented_certificate(headers: Mapping[str, str]) -> x509.Certificate | None:
    """The client certificate a request presented, or None (none, or unreadable)."""
    value = headers.get(CLIENT_CERT_HEADER)
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return x509.load_pem_x509_certificate(unquote(value).encode("ascii"))
    return None


def thumbprint_of_pem(pem: bytes | str) -> str:
    """The ``x5t#S256`` of a PEM certificate.

    Raises:
        ValueError: it is not a PEM certificate.
    """
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    certificate = x509.load_pem_x509_certificate(data)
    return x5t_s256(certificate.public_bytes(serialization.Encoding.DER))


def binding_claims(thumbprint: str | None) -> dict[str, Any]:
    """The ``cnf`` claim binding a token to a certificate (RFC 8705 §3.1); none without one."""
    return {} if thumbprint is None else {"cnf": {"x5t#S256": thumbprint}}


def check_binding(claims: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Refuse a certificate-bound token presented without its certificate (RFC 8705 §3).

    The check of ``tokensources.verify``, with the certificate the header carries.

    Raises:
        InvalidTokenError: the token names a certificate the request did not present.
    """
    check_certificate_binding(claims, headers.get(CLIENT_CERT_HEADER))


@dataclass(frozen=True, slots=True)
class TlsRegistration:
    """How a mutual-TLS client is recognised.

    Attributes:
        method: ``tls_client_auth`` or ``self_signed_tls_client_auth``.
        subject_dn: the subject DN (RFC 4514) for ``tls_client_auth``.
        thumbprints: the ``x5t#S256`` of the registered self-signed
            certificates (given as PEM, or in the ``x5c`` of a JWK).
    """

    method: str
    subject_dn: str | None = None
    thumbprints: frozenset[str] = frozenset()


def tls_registration(
    subject_dn: str | None,
    certificates: bytes | str | Iterable[bytes | str] | None,
    jwks: Mapping[str, Any] | None = None,
) -> TlsRegistration:
    """The registration for a subject DN, self-signed certificates (PEM), or a JWK Set with ``x5c``.

    Raises:
        ConfigError: not exactly one of the three given, an empty DN, a
            certificate that is not PEM, or a JWK Set that ``x5c_thumbprints``
            refuses.
    """
    given = [value is not None for value in (subject_dn, certificates, jwks)]
    if given.count(True) != 1:
        raise ConfigError(
            "give one of subject_dn (tls_client_auth), certificate or jwks (self-signed)"
        )
    if subject_dn is not None:
        if not isinstance(subject_dn, str) or not subject_dn:
            raise ConfigError("subject_dn must be a non-empty RFC 4514 string")
        return TlsRegistration(TLS_CLIENT_AUTH, subject_dn=subject_dn)
    if jwks is not None:
        return TlsRegistration(SELF_SIGNED_TLS_CLIENT_AUTH, thumbprints=x5c_thumbprints(jwks))
    pems = [certificates] if isinstance(certificates, (bytes, str)) else list(certificates or [])
    thumbprints = [_thumbprint_or_none(pem) for pem in pems]
    if not thumbprints or None in thumbprints:
        raise ConfigError("certificate must be one or more PEM certificates")
    return TlsRegistration(
        SELF_SIGNED_TLS_CLIENT_AUTH, thumbprints=frozenset(t for t in thumbprints if t)
    )


def x5c_thumbprints(jwks: Mapping[str, Any]) -> frozenset[str]:
    """The ``x5t#S256`` of the certificates a JWK Set (or one JWK) registers in ``x5c``.

    RFC 8705 §2.2 registers a self-signed client certificate as a JWK whose
    ``x5c`` holds it: the first entry (standard base64 of the DER, not
    base64url, RFC 7517 §4.7) is the certificate, and its public key must
    be the JWK's own. Every key of the set must carry one, since a key
    without a certificate cannot authenticate a TLS client.

    Raises:
        ConfigError: the set is malformed or holds private keys (as for
            ``register_client``), a key has no ``x5c`` or an unreadable one,
            or a certificate's key is not the JWK's.
    """
    if not isinstance(jwks, Mapping):
        raise ConfigError("jwks must be a JWK Set (a mapping with 'keys') or one JWK")
    thumbprints: set[str] = set()
    for index, (raw, key) in enumerate(load_jwks(jwks)):
        where = f"jwks key {index}" + (f" ({raw['kid']!r})" if "kid" in raw else "")
        certificate = _x5c_certificate(raw.get("x5c"), where)
        if _spki(certificate.public_key()) != _spki(key):
            raise ConfigError(f"{where}: the x5c certificate's public key is not the JWK's")
        thumbprints.add(x5t_s256(certificate.public_bytes(serialization.Encoding.DER)))
    return frozenset(thumbprints)


def _x5c_certificate(x5c: object, where: str) -> x509.Certificate:
    """The first certificate of an ``x5c`` member (RFC 7517 §4.7)."""
    if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
        raise ConfigError(f"{where} has no x5c (a list of base64 DER certificates)")
    try:
        der = base64.b64decode(x5c[0], validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{where}: x5c[0] is not a base64 DER certificate (standard base64, RFC 7517 §4.7)"
        ) from None


def _spki(public_key: Any) -> bytes:
    """A public key's SubjectPublicKeyInfo, to compare two keys."""
    spki: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return spki


def _thumbprint_or_none(pem: object) -> str | None:
    if not isinstance(pem, (bytes, str)):
        return None
    try:
        return thumbprint_of_pem(pem)
    except ValueError:
        return None
