"""Where ``tokensources token`` reads its credentials: the environment, stdin, key files.

Never the command line, where ``ps`` and shell history would keep them.
Every secret read is recorded in the command's ``KnownSecrets``, so that an
error report can mask it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._args import env_var_name
from ._exit import KnownSecrets

__all__ = ["read_client_secret", "read_key_password", "read_private_key"]


def read_client_secret(*, env_name: str, from_stdin: bool, secrets: KnownSecrets) -> str:
    """The client secret, from standard input or the variable ``env_name``.

    At a terminal, standard input is read without echo (``getpass``); from a
    pipe, one line is read as is.

    Raises:
        ConfigError: no secret was given (the message says what was empty
            and what to do), or ``env_name`` is not a variable name.
    """
    name = _variable_name(env_name, "--client-secret-env")
    if from_stdin:
        at_terminal = sys.stdin.isatty()
        secret = _read_stdin_secret()
        if not secret:
            raise ConfigError(
                "no client secret: nothing was typed at the prompt"
                if at_terminal
                else "no client secret: standard input was empty (pipe the secret in, one line)"
            )
    else:
        secret = os.environ.get(name, "")
        if not secret:
            raise ConfigError(
                f"no client secret: the environment variable {name} is empty or unset "
                "(set it, pass --client-secret-stdin, or use --private-key)"
            )
    return secrets.remember(secret)


def _read_stdin_secret() -> str:
    if sys.stdin.isatty():
        # A secret typed at a terminal must not be echoed onto the screen.
        return getpass.getpass("client secret: ")
    return sys.stdin.readline().rstrip("\r\n")


def _variable_name(name: str, flag: str) -> str:
    # A value that is not a variable name may be the secret itself, given
    # where its name belongs: never repeat it.
    if not env_var_name(name):
        raise ConfigError(f"the variable named by {flag} is not a valid environment variable name")
    return name


def read_key_password(
    env_name: str | None, secrets: KnownSecrets, *, flag: str = "--key-password-env"
) -> str | None:
    """The password of an encrypted PEM key, from the variable ``env_name`` (None: no password).

    ``flag`` is the command-line flag that named the variable, for the messages.

    Raises:
        ConfigError: the variable is empty or unset, or ``env_name`` is not a variable name.
    """
    if env_name is None:
        return None
    name = _variable_name(env_name, flag)
    password = os.environ.get(name)
    if not password:
        raise ConfigError(f"the environment variable {name} is empty or unset")
    return secrets.remember(password)


def read_private_key(path: str) -> bytes | dict[str, Any]:
    """The signing key in the file at ``path``: PEM bytes, or a JWK as a dict.

    Raises:
        ConfigError: the file cannot be read, or holds JSON that is not a JWK
            object (the message never quotes the file's content).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key file {path!r}: {exc.strerror}") from None
    if data.lstrip().startswith(b"{"):
        try:
            jwk = json.loads(data)
        except ValueError:
            raise ConfigError(f"the private key file {path!r} is not valid JSON") from None
        if isinstance(jwk, dict):
            return jwk
        raise ConfigError(f"the private key file {path!r} is not a JWK object")
    return data
