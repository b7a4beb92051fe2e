"""A client certificate and its key, for mutual TLS (RFC 8705): loaded, checked, followed on disk.

Certificate and key arrive as file paths (so that a certificate renewed in
place — cert-manager, SPIFFE X.509-SVIDs — is seen) or as PEM. Before a TLS
context is built they are checked: the key must be the certificate's, the
certificate valid now, an encrypted key given its password. Every refusal
is a ``ConfigError`` naming the problem, never key material.

``ssl.SSLContext.load_cert_chain`` reads only files. So that what is
loaded is exactly what was checked (a file renewed between the two would
otherwise slip through), the checked bytes are written to a private
temporary directory (mode 0700, files 0600) for that call and removed at
once; an encrypted key stays encrypted there.

The certificate's ``x5t#S256`` (RFC 8705 §3.1: the base64url SHA-256 of its
DER encoding) is what a bound token's ``cnf`` names.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._errors import ConfigError
from .._source import Clock
from ._signing_keys import load_pem_private_key

__all__ = ["CertificateInput", "ClientCertificate", "LoadedCertificate", "x5t_s256"]

CertificateInput = str | os.PathLike[str] | bytes
"""A file path, or PEM (``bytes``, or a ``str`` starting with ``-----BEGIN``)."""
_PEM_START = "-----BEGIN"
_MAX_PEM_BYTES = 256 * 1024


def x5t_s256(der: bytes) -> str:
    """The ``x5t#S256`` of a DER certificate: base64url SHA-256, unpadded (RFC 8705 §3.1)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return base64.urlsafe_b64encode(digest.finalize()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class LoadedCertificate:
    """One version of the client certificate, checked, with the TLS context that presents it.

    Attributes:
        thumbprint: the certificate's ``x5t#S256``.
        subject: its subject DN (RFC 4514), what ``tls_client_auth`` matches.
        not_after: the end of its validity, epoch seconds.
        context: the TLS context presenting it and verifying servers.
    """

    thumbprint: str
    subject: str
    not_after: float
    context: ssl.SSLContext = field(repr=False, compare=False)


class ClientCertificate:
    """A client certificate and key, re-read when their files change.

    Args:
        certificate: the certificate (path or PEM); a chain may follow it.
        private_key: its private key (path or PEM), optionally encrypted.
        key_password: the password of an encrypted key.
        ca: the CA certificates (path or PEM) that verify the server; None
            for the system's trust store.
        clock: wall-clock time, for the certificate's validity.

    Raises:
        ConfigError: as ``current()``, at once.
    """

    def __init__(
        self,
        certificate: CertificateInput,
        private_key: CertificateInput,
        *,
        key_password: bytes | str | None,
        ca: CertificateInput | None,
        clock: Clock,
    ) -> None:
        if key_password is not None and not isinstance(key_password, (bytes, str)):
            raise ConfigError("key_password must be bytes or str")
        self._certificate = _Input("certificate", certificate)
        self._key = _Input("private_key", private_key)
        self._ca = None if ca is None else _Input("ca", ca)
        self._password = key_password
        self._clock = clock
        self._loaded: tuple[tuple[object, ...], LoadedCertificate] | None = None
        self._previous: LoadedCertificate | None = None
        self.loads = 0
        """How many versions have been loaded: it changes whenever ``recent`` does."""
        self.current()

    def __repr__(self) -> str:
        return f"ClientCertificate(certificate={self._certificate.describe()})"

    @property
    def recent(self) -> tuple[LoadedCertificate, ...]:
        """The certificate before the last renewal (if any) and the latest, oldest first.

        The latest is the version ``current()`` last returned; the files
        are not looked at and nothing is raised. Every token request calls
        ``current()``, so a token bound to a renewed certificate is always
        preceded by ``recent`` naming it. The version before stays listed
        (expired or not) until the next renewal: tokens bound to it may
        still be in use.
        """
        loaded = self._loaded
        assert loaded is not None  # noqa: S101 - loaded by the constructor
        latest = loaded[1]
        return (latest,) if self._previous is None else (self._previous, latest)

    def current(self) -> LoadedCertificate:
        """The certificate as it is now: the same object until a file changes.

        Raises:
            ConfigError: a file cannot be read; the certificate or key is not
                readable PEM; the key is encrypted and no password was given
                (or the wrong one); the key is not the certificate's; the
                certificate has expired or is not valid yet.
        """
        versions = (self._certificate.version(), self._key.version(), self._ca_version())
        loaded = self._loaded
        if loaded is not None and loaded[0] == versions:
            self._check_validity_now(loaded[1])
            return loaded[1]
        fresh = self._load()
        if loaded is not None and loaded[1].thumbprint != fresh.thumbprint:
            self._previous = loaded[1]  # a renewal, not the same certificate written again
        self._loaded = (versions, fresh)
        self.loads += 1
        return fresh

    def _ca_version(self) -> object:
        return None if self._ca is None else self._ca.version()

    def _check_validity_now(self, loaded: LoadedCertificate) -> None:
        if self._clock() >= loaded.not_after:
            raise ConfigError(f"the client certificate {loaded.thumbprint} has expired")

    def _load(self) -> LoadedCertificate:
        cert_pem = self._certificate.read()
        key_pem = self._key.read()
        certificate = _certificate(cert_pem)
        key = load_pem_private_key(key_pem, self._password)
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
            raise ConfigError(
                "private_key is not the key of certificate (their public keys differ)"
            )
        thumbprint = x5t_s256(certificate.public_bytes(serialization.Encoding.DER))
        now = self._clock()
        not_before = certificate.not_valid_before_utc.timestamp()
        not_after = certificate.not_valid_after_utc.timestamp()
        if now < not_before:
            raise ConfigError(
                f"the client certificate {thumbprint} is not valid yet (from {_iso(not_before)})"
            )
        if now >= not_after:
            raise ConfigError(f"the client certificate {thumbprint} expired at {_iso(not_after)}")
        context = self._context(cert_pem, key_pem)
        subject = certificate.subject.rfc4514_string()
        return LoadedCertificate(thumbprint, subject, not_after, context)

    def _context(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._ca is not None:
            context = ssl.create_default_context(cadata=self._ca.read().decode("ascii", "replace"))
        password = self._password
        with tempfile.TemporaryDirectory(prefix="tokensources-") as directory:
            cert_file = _private_file(Path(directory, "certificate.pem"), cert_pem)
            key_file = _private_file(Path(directory, "key.pem"), key_pem)
            failed = False
            try:
                context.load_cert_chain(cert_file, key_file, password=password)
            except (ssl.SSLError, ValueError, TypeError):
                failed = True  # refused below, with no __context__ near the key
        if failed:
            raise ConfigError("the certificate and private_key cannot be loaded for TLS")
        return context


def _iso(instant: float) -> str:
    return datetime.datetime.fromtimestamp(instant, datetime.timezone.utc).isoformat()


def _private_file(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` readable by its owner only; the path, as a string."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return str(path)


def _certificate(data: bytes) -> x509.Certificate:
    certificate: x509.Certificate | None = None
    with contextlib.suppress(ValueError):
        certificate = x509.load_pem_x509_certificate(data)
    if certificate is None:
        raise ConfigError("certificate is not a readable PEM certificate")
    return certificate


class _Input:
    """A certificate, key or CA input: PEM as given, or a file read when it changed."""

    def __init__(self, name: str, value: CertificateInput) -> None:
        self.name = name
        self._pem: bytes | None = None
        self._path: str | None = None
        if isinstance(value, bytes):
            self._pem = value
        elif isinstance(value, str) and value.lstrip().startswith(_PEM_START):
            self._pem = value.encode("ascii", "replace")
        elif isinstance(value, (str, os.PathLike)) and os.fspath(value):
            self._path = os.fspath(value)
        else:
            raise ConfigError(f"{name} must be a file path or PEM (bytes, or str)")

    def describe(self) -> str:
        return repr(self._path) if self._path is not None else "<PEM>"

    def version(self) -> object:
        """What changes when the input does: None for PEM; the file's identity and times."""
        if self._path is None:
            return None
        try:
            stat = os.stat(self._path)
        except OSError:
            return "missing"
        return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def read(self) -> bytes:
        if self._pem is not None:
            return self._pem
        assert self._path is not None  # noqa: S101 - set when there is no PEM
        problem: str | None = None
        data = b""
        try:
            with open(self._path, "rb") as file:
                data = file.read(_MAX_PEM_BYTES + 1)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        if problem is not None:
            raise ConfigError(f"{self.name} file {self._path!r} cannot be read ({problem})")
        if len(data) > _MAX_PEM_BYTES:
            raise ConfigError(f"{self.name} file {self._path!r} is too large to be PEM")
        return data
