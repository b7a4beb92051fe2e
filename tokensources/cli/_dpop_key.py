"""``tokensources dpop-key``: make a DPoP private key file, and show its public half.

The key is made by the library's one table from algorithm to key
(``sources._dpop_key.new_private_key``) and written as an unencrypted
PKCS#8 PEM to a file created for it alone: mode 0600, and never over an
existing file (``O_EXCL``), so a key in use is not replaced by mistake and
no symlink is followed. What is printed is public: the RFC 7638 thumbprint
(the ``jkt`` tokens bound to the key carry) and the public JWK, for the
providers that want a key registered. The private key is never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from .._errors import ConfigError
from ..sources._dpop_key import DPOP_ALGORITHMS, DPoPKey, new_private_key
from ._exit import EXIT_CODES_HELP, OK, KnownSecrets

__all__ = ["DPoPKeySettings", "add_parser", "describe_key", "run", "write_new_file"]

DEFAULT_ALGORITHM = "ES256"
# Owner read and write only: the file holds a private key.
_MODE = 0o600

_DESCRIPTION = f"""\
Make a new DPoP private key (RFC 9449) and write it to FILE as an
unencrypted PKCS#8 PEM, readable by its owner only (mode 0600). FILE must
not exist yet: an existing file is never overwritten.

It prints the key's thumbprint (the "jkt" that tokens bound to it carry)
and its public JWK, to register where a provider asks for the key. The
private key itself is never printed. Use the file with
`tokensources token --dpop-key FILE`, or load it with DPoPKey(pem).

Algorithms: {", ".join(DPOP_ALGORITHMS)} (default {DEFAULT_ALGORITHM}: P-256,
small and fast, accepted by every provider that supports DPoP).
"""

_EPILOG = f"""\
examples:
  tokensources dpop-key dpop.pem
  tokensources dpop-key rsa-dpop.pem --algorithm RS256 --format json
  tokensources token --issuer https://auth.example.com --client-id my-service \\
      --dpop-key dpop.pem --format json

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    """Declare ``tokensources dpop-key`` and its flags."""
    parser = subparsers.add_parser(
        "dpop-key",
        help="make a DPoP key file; print its thumbprint and public JWK",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="the key file to create (must not exist)")
    parser.add_argument(
        "--algorithm",
        choices=DPOP_ALGORITHMS,
        default=DEFAULT_ALGORITHM,
        metavar="ALG",
        help=f"the key's algorithm: {', '.join(DPOP_ALGORITHMS)} (default {DEFAULT_ALGORITHM})",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: for people (default); json: file, algorithm, jkt and the public jwk",
    )


@dataclass(frozen=True, slots=True)
class DPoPKeySettings:
    """What ``tokensources dpop-key`` was asked to make.

    Attributes:
        file: the path of the key file to create.
        algorithm: one of ``DPOP_ALGORITHMS``.
        format: ``text`` or ``json``.
    """

    file: str
    algorithm: str
    format: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DPoPKeySettings:
        """The settings parsed by ``add_parser``'s flags."""
        return cls(file=args.file, algorithm=args.algorithm, format=args.format)


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Make the key, write it to its new file, and print its public description."""
    settings = DPoPKeySettings.from_args(args)
    private_key = new_private_key(settings.algorithm)
    key = DPoPKey(private_key, algorithm=settings.algorithm)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new_file(settings.file, pem)
    print(describe_key(key, settings.file, settings.format))
    return OK


def write_new_file(path: str, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` with mode 0600; never over an existing file.

    A file that could not be written completely is removed again.

    Raises:
        ConfigError: ``path`` exists (a symlink too, even a dangling one),
            or the file cannot be created or written.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    problem: str | None = None
    try:
        fd = os.open(path, flags, _MODE)
    except FileExistsError:
        problem = f"{path!r} already exists; a key file is never overwritten (remove it first)"
    except OSError as exc:
        problem = f"cannot create the key file {path!r}: {exc.strerror}"
    if problem is not None:
        raise ConfigError(problem)
    try:
        with os.fdopen(fd, "wb") as file:
            # The umask may have taken bits away; the mode is exactly owner read/write.
            os.fchmod(file.fileno(), _MODE)
            file.write(data)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(path)
        problem = f"cannot write the key file {path!r}: {exc.strerror}"
    if problem is not None:
        raise ConfigError(problem)


def describe_key(key: DPoPKey, path: str, fmt: str) -> str:
    """What ``dpop-key`` prints about ``key``, written to ``path``: public facts only."""
    jwk = {**key.public_jwk(), "alg": key.algorithm}
    if fmt == "json":
        fields = {"file": path, "algorithm": key.algorithm, "jkt": key.thumbprint, "jwk": jwk}
        return json.dumps(fields, indent=2)
    return (
        f"wrote a new {key.algorithm} private key to {path} (PKCS#8 PEM, mode 0600)\n"
        f"jkt (thumbprint)  {key.thumbprint}\n"
        f"public JWK        {json.dumps(jwk, separators=(',', ':'))}"
    )
