"""A client certificate and its key, for mutual TLS (RFC 8705): loaded, checked, followed on disk.

Certificate and key arrive as file paths (so that a certificate renewed in
place — cert-manager, SPIFFE X.509-SVIDs — is seen) or as PEM. Before a TLS
context is built they are checked: the key must be the certificate's, the
certificate valid now, an encrypted key given its password. Every refusal
is a ``ConfigError`` naming the problem, never key material. Once a version
is loaded, renewed files that fail these checks (caught half written, or
briefly absent) leave it in use while it is valid; a version is replaced
only by files whose bytes differ (a digest of certificate, key and ``ca``),
so identical rewrites change nothing.

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
import hashlib
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._errors import ConfigError
from .._log import logger
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
        digest: a SHA-256 of everything the context was built from
            (certificate with its chain, key, ``ca``): two versions with the
            same leaf but another chain, key or ``ca`` differ in it.
    """

    thumbprint: str
    subject: str
    not_after: float
    context: ssl.SSLContext = field(repr=False, compare=False)
    digest: str = field(default="", repr=False)


class ClientCertificate:
    """A client certificate and key, re-read when their files change.

    Files caught while being rewritten (a certificate written before its
    key, a file briefly absent) are not a failure while the version held is
    still valid: it stays in use, a warning is logged once per problem, and
    the files are looked at again on the next call. Only the constructor is
    strict. Safe for use from many threads at once.

    Args:
        certificate: the certificate (path or PEM); a chain may follow it.
        private_key: its private key (path or PEM), optionally encrypted.
        key_password: the password of an encrypted key.
        ca: the CA certificates (path or PEM) that verify the server; None
            for the system's trust store.
        clock: wall-clock time, for the certificate's validity.

    Raises:
        ConfigError: the files cannot be loaded now (as ``current()``, but
            with nothing held to fall back on).
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
        self._lock = threading.Lock()
        self._warned: str | None = None  # the problem last logged, so it is logged once
        versions = self._versions()
        first = self._load()
        # What the files were when last looked at, and (previous, latest, loads):
        # one tuple, so that a reader on another thread never sees half a renewal.
        self._versions_seen = versions
        self._state: tuple[LoadedCertificate | None, LoadedCertificate, int] = (None, first, 1)

    def __repr__(self) -> str:
        return f"ClientCertificate(certificate={self._certificate.describe()})"

    @property
    def loads(self) -> int:
        """How many versions have been loaded: it changes whenever ``recent`` does."""
        return self._state[2]

    @property
    def recent(self) -> tuple[LoadedCertificate, ...]:
        """The certificate before the last renewal (if any) and the latest, oldest first.

        The latest is the version ``current()`` last returned; the files
        are not looked at and nothing is raised. The version before stays
        listed (expired or not) until the next renewal: tokens bound to it
        may still be in use.
        """
        return self.snapshot()[0]

    def snapshot(self) -> tuple[tuple[LoadedCertificate, ...], int]:
        """``recent`` and ``loads``, read together (one consistent state)."""
        previous, latest, loads = self._state
        return ((latest,) if previous is None else (previous, latest)), loads

    def current(self) -> LoadedCertificate:
        """The certificate as it is now: the same object until the files' contents change.

        The files are looked at (``os.stat``) on every call and read only
        when they changed; rewritten with the same bytes, the same version
        is kept. When they cannot be loaded but the version held is still
        valid, that version is returned (see the class).

        Raises:
            ConfigError: the version held has expired, and the files hold
                no usable renewal: a file cannot be read; the certificate or
                key is not readable PEM; the key is encrypted and no
                password was given (or the wrong one); the key is not the
                certificate's; the certificate has expired or is not valid yet.
        """
        with self._lock:
            previous, latest, loads = self._state
            versions = self._versions()
            if versions == self._versions_seen:
                self._check_validity_now(latest)
                return latest
            try:
                fresh = self._load()
            except ConfigError as exc:
                if self._clock() >= latest.not_after:
                    raise
                self._warn(f"{exc}; the certificate {latest.thumbprint} loaded before stays in use")
                return latest  # files not marked seen: looked at again next call
            self._warned = None
            self._versions_seen = versions
            if fresh.digest == latest.digest:
                return latest  # the same bytes written again
            if fresh.thumbprint != latest.thumbprint:
                previous = latest  # a renewal, not the same leaf with another chain, key or ca
            self._state = (previous, fresh, loads + 1)
            return fresh

    def _versions(self) -> tuple[object, ...]:
        ca = None if self._ca is None else self._ca.version()
        return self._certificate.version(), self._key.version(), ca

    def _warn(self, problem: str) -> None:
        if problem != self._warned:
            self._warned = problem
            logger.warning("the client certificate files cannot be loaded now: %s", problem)

    def _check_validity_now(self, loaded: LoadedCertificate) -> None:
        if self._clock() >= loaded.not_after:
            raise ConfigError(f"the client certificate {loaded.thumbprint} has expired")

    def _load(self) -> LoadedCertificate:
        cert_pem = self._certificate.read()
        key_pem = self._key.read()
        ca_pem = None if self._ca is None else self._ca.read()
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
        context = self._context(cert_pem, key_pem, ca_pem)
        subject = certificate.subject.rfc4514_string()
        return LoadedCertificate(
            thumbprint, subject, not_after, context, _digest(cert_pem, key_pem, ca_pem)
        )

    def _context(self, cert_pem: bytes, key_pem: bytes, ca_pem: bytes | None) -> ssl.SSLContext:
        if ca_pem is None:
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
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


def _digest(*parts: bytes | None) -> str:
    """A SHA-256 over ``parts``, each length-prefixed (None and empty differ)."""
    digest = hashlib.sha256()
    for part in parts:
        data = b"" if part is None else part
        digest.update(b"-" if part is None else len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


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
