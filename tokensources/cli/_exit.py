"""Exit codes of the command line, and the one-line error report."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator

from .._errors import (
    ConfigError,
    TokenEndpointError,
    TokenRequestError,
    TokenResponseError,
    TokenSourceError,
)
from .._redact import REDACTED

__all__ = [
    "CONFIG",
    "FAILED",
    "INTERRUPTED",
    "NETWORK",
    "OK",
    "REFUSED",
    "USAGE",
    "KnownSecrets",
    "exit_code",
    "mask_secrets",
    "report_error",
    "report_internal_error",
]

OK = 0
FAILED = 1  # the demo saw failed requests, or an internal error
USAGE = 2  # argparse's own code for bad flags
CONFIG = 3  # ConfigError: bad input detected before any request
REFUSED = 4  # the endpoint answered, but with an error or an unusable body
NETWORK = 5  # the endpoint could not be reached
INTERRUPTED = 130  # the shell's convention for Ctrl-C

# Compact JWS/JWT serialisations (RFC 7515 section 7.1): three base64url parts.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

EXIT_CODES_HELP = """\
exit status:
  0  success
  1  the demo saw failed requests, or an internal error (a bug: please report it)
  2  usage error (unknown flag, missing argument)
  3  configuration error (missing secret, bad URL, unreadable key)
  4  the endpoint refused (OAuth error such as invalid_client, or an unusable answer)
  5  network error (connection refused, timeout, DNS)
"""


class KnownSecrets:
    """The secrets a command has read, so that an error report can mask them.

    Each command receives one from ``main`` and records every secret it
    reads (a client secret, a key password); ``report_error`` masks them
    all. The values never leave this object except to be masked.
    """

    def __init__(self) -> None:
        self._values: list[str] = []

    def remember(self, secret: str) -> str:
        """Record ``secret`` (an empty one is ignored) and return it."""
        if secret:
            self._values.append(secret)
        return secret

    def __iter__(self) -> Iterator[str]:
        """The recorded secrets."""
        return iter(self._values)

    def __repr__(self) -> str:
        return f"KnownSecrets(<{len(self._values)} hidden>)"


def exit_code(exc: TokenSourceError) -> int:
    """The exit status that reports ``exc``."""
    if isinstance(exc, ConfigError):
        return CONFIG
    if isinstance(exc, (TokenEndpointError, TokenResponseError)):
        return REFUSED
    if isinstance(exc, TokenRequestError):
        return NETWORK
    return FAILED


def report_error(exc: BaseException, secrets: Iterable[str] = ()) -> None:
    """Print ``exc`` as one line on stderr, with any known secret masked.

    Library messages never hold secrets: they are redacted where they are
    made. As a second line of defence, the secrets the command line itself
    read (``secrets``) and anything shaped like a JWT are masked; nothing
    else is touched, so that prose such as "standard input: empty" stays
    readable.
    """
    message = " ".join(str(exc).split()) or type(exc).__name__
    cause = exc.__cause__
    if isinstance(exc, TokenRequestError) and cause is not None and str(cause):
        # "ConnectError" alone does not say why; the OS does ("Connection refused").
        message = f"{message} ({' '.join(str(cause).split())})"
    print(f"tokensources: error: {mask_secrets(message, secrets)}", file=sys.stderr)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and every JWT-shaped string replaced by a marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _JWT.sub(REDACTED, text)


def report_internal_error(exc: BaseException) -> None:
    """Report a bug as one line: the exception's type, never its text or traceback.

    The text of an unexpected exception may quote anything it was handed,
    secrets included, so it is left out.
    """
    print(
        f"tokensources: internal error ({type(exc).__name__}); please report it",
        file=sys.stderr,
    )
