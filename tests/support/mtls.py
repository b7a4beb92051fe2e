"""Certificates for the mutual-TLS tests, made with trustme, and a testing server serving HTTPS."""

from __future__ import annotations

import datetime
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tokensources.testing import AuthorizationServer


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, as PEM."""

    certificate: bytes
    key: bytes

    @property
    def subject(self) -> str:
        return x509.load_pem_x509_certificate(self.certificate).subject.rfc4514_string()


@dataclass
class Files:
    """The certificate and key files a renewal rewrites in place."""

    certificate: Path
    key: Path

    def write(self, pair: Pair) -> None:
        """Renew as kubelet and cert-manager do: new files moved into place."""
        for path, data in ((self.key, pair.key), (self.certificate, pair.certificate)):
            fresh = path.with_suffix(".new")
            fresh.write_bytes(data)
            os.replace(fresh, path)


def issued(ca: trustme.CA, name: str = "billing", **kwargs: object) -> Pair:
    """A client certificate from ``ca`` with a fixed subject DN (CN=name,OU=payments,O=Example)."""
    leaf = ca.issue_cert(
        f"{name}.clients.example",
        common_name=name,
        organization_unit_name="payments",
        organization_name="Example",
        **kwargs,  # type: ignore[arg-type]
    )
    return Pair(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes())


def self_signed(name: str = "self-signed-client", *, days: float = 1) -> Pair:
    """A self-signed EC certificate valid from an hour ago for ``days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Pair(certificate.public_bytes(serialization.Encoding.PEM), key_pem)


def server_context(ca: trustme.CA, *trusted: bytes) -> ssl.SSLContext:
    """A server-side context for 127.0.0.1 that asks for client certificates.

    It trusts client certificates from ``ca`` and the ``trusted`` PEM
    certificates (self-signed clients).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_OPTIONAL
    ca.configure_trust(context)
    for pem in trusted:
        context.load_verify_locations(cadata=pem.decode("ascii"))
    return context


@asynccontextmanager
async def serving(server: AuthorizationServer, context: ssl.SSLContext) -> AsyncIterator[str]:
    """Serve ``server`` over HTTPS on loopback; yield its token endpoint URL."""
    async with server.serve(tls=context) as url:
        yield f"{url}/oauth/token"
