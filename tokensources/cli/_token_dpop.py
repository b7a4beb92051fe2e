"""DPoP for ``tokensources token``: the key file tokens are bound to (RFC 9449).

``--dpop-key FILE`` names a private key — PEM (encrypted or not) or a
private JWK — that every grant signs its proofs with, so the token comes
back bound to it (``token_type`` ``DPoP``, the key's thumbprint as
``jkt``). The password of an encrypted PEM comes from the environment
variable ``--dpop-key-password-env`` names, never from the command line,
where ``ps`` and shell history would see it. Refusals name the file and the
flag to change, never the key.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from .._errors import ConfigError
from ..sources._dpop_key import DPOP_ALGORITHMS, DPoPKey
from ..sources._signing_keys import load_pem_private_key
from ._exit import KnownSecrets
from ._secrets import read_key_password, read_private_key

__all__ = ["DPoPSettings", "add_dpop_flags", "load_dpop_key"]

# The library's refusals name its keywords; the command line's user has flags.
_IN_FLAG_TERMS = (
    (re.compile(r"\bkey_password\b"), "--dpop-key-password-env"),
    (re.compile(r"\bpass algorithm="), "give --dpop-algorithm"),
    (re.compile(r"\bprivate_key\b"), "the key"),
)


def add_dpop_flags(parser: argparse.ArgumentParser) -> None:
    """Declare ``--dpop-key``, ``--dpop-algorithm`` and ``--dpop-key-password-env``."""
    group = parser.add_argument_group("DPoP (RFC 9449): tokens bound to a key")
    group.add_argument(
        "--dpop-key",
        metavar="FILE",
        help="PEM or JWK file of the private key to bind the token to (make one with "
        "`tokensources dpop-key FILE`); every token request carries a proof signed with it",
    )
    group.add_argument(
        "--dpop-algorithm",
        choices=DPOP_ALGORITHMS,
        metavar="ALG",
        help=f"the proofs' algorithm: {', '.join(DPOP_ALGORITHMS)} (default: from the key)",
    )
    group.add_argument(
        "--dpop-key-password-env",
        metavar="NAME",
        help="read the password of an encrypted PEM --dpop-key from this environment variable",
    )


@dataclass(frozen=True, slots=True)
class DPoPSettings:
    """The DPoP key ``tokensources token`` binds its token to, if any.

    Attributes:
        key_file: the private key's file, or None for a bearer token.
        algorithm: the proofs' algorithm, or None to take it from the key.
        key_password_env: the variable holding an encrypted PEM's password, or None.
    """

    key_file: str | None
    algorithm: str | None
    key_password_env: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DPoPSettings:
        """The settings parsed by ``add_dpop_flags``'s flags."""
        return cls(
            key_file=args.dpop_key,
            algorithm=args.dpop_algorithm,
            key_password_env=args.dpop_key_password_env,
        )

    def check(self) -> None:
        """Refuse the DPoP options given without ``--dpop-key``.

        Raises:
            ConfigError: the message names the flag.
        """
        if self.key_file is not None:
            return
        for flag, value in (
            ("--dpop-algorithm", self.algorithm),
            ("--dpop-key-password-env", self.key_password_env),
        ):
            if value is not None:
                raise ConfigError(f"{flag} applies to --dpop-key only: give --dpop-key FILE too")


def load_dpop_key(settings: DPoPSettings, secrets: KnownSecrets) -> DPoPKey | None:
    """The key of ``--dpop-key``, checked to sign with its algorithm; None without one.

    Raises:
        ConfigError: the file cannot be read or holds no usable private key,
            the password variable is unset or does not decrypt it. The
            message names the file, never its content or the password.
    """
    path = settings.key_file
    if path is None:
        return None
    password = read_key_password(settings.key_password_env, secrets, flag="--dpop-key-password-env")
    try:
        material = read_private_key(path)
    except ConfigError as exc:
        # read_private_key's messages name the file; this says which flag gave it.
        raise ConfigError(f"--dpop-key: {exc}") from None
    problem: str | None = None
    try:
        if password is None:
            return DPoPKey(material, algorithm=settings.algorithm)
        if not isinstance(material, bytes):
            problem = "--dpop-key-password-env applies only to an encrypted PEM key, not a JWK"
        else:
            key = load_pem_private_key(material, password)
            return DPoPKey(key, algorithm=settings.algorithm)
    except ConfigError as exc:
        problem = _in_flag_terms(str(exc))
    # Raised outside the handler: nothing of the key's parsing stays attached.
    raise ConfigError(f"--dpop-key {path!r} cannot be used: {problem}")


def _in_flag_terms(message: str) -> str:
    for keyword, flag in _IN_FLAG_TERMS:
        message = keyword.sub(flag, message)
    return message
