"""Exit codes of the command line, and the one-line error report."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from .._errors import (
    ConfigError,
    TokenEndpointError,
    TokenRequestError,
    TokenResponseError,
    TokenSourceError,
)
from .._redact import scrub

__all__ = [
    "CONFIG",
    "FAILED",
    "NETWORK",
    "OK",
    "REFUSED",
    "USAGE",
    "exit_code",
    "report_error",
]

OK = 0
FAILED = 1  # the demo saw failed requests, or an unclassified error
USAGE = 2  # argparse's own code for bad flags
CONFIG = 3  # ConfigError: bad input detected before any request
REFUSED = 4  # the endpoint answered, but with an error or an unusable body
NETWORK = 5  # the endpoint could not be reached
INTERRUPTED = 130  # the shell's convention for Ctrl-C

EXIT_CODES_HELP = """\
exit status:
  0  success
  1  the demo saw failed requests
  2  usage error (unknown flag, missing argument)
  3  configuration error (missing secret, bad URL, unreadable key)
  4  the endpoint refused (OAuth error such as invalid_client, or an unusable answer)
  5  network error (connection refused, timeout, DNS)
"""


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

    Library messages never hold secrets; masking the secrets the command
    line itself read is a second line of defence, not the first.
    """
    message = " ".join(str(exc).split()) or type(exc).__name__
    cause = exc.__cause__
    if isinstance(exc, TokenRequestError) and cause is not None and str(cause):
        # "ConnectError" alone does not say why; the OS does ("Connection refused").
        message = f"{message} ({' '.join(str(cause).split())})"
    print(f"tokensources: error: {scrub(message, secrets)}", file=sys.stderr)
