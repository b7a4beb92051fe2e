"""The library's warnings, shown by the command line as its own lines on stderr.

The library logs what a caller should notice but that is no error (a
server that answered a DPoP request with a Bearer token, say). Unhandled,
Python would print the bare message; a command shows it as
``tokensources: warning: ...`` on one line, with the secrets it read masked,
as it reports errors.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from ._exit import mask_secrets

__all__ = ["warnings_on_stderr"]

_LIBRARY_LOGGER = "tokensources"


class _StderrWarnings(logging.Handler):
    """Writes each warning record as one ``tokensources: warning:`` line on stderr."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(logging.WARNING)
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        message = " ".join(record.getMessage().split())
        print(f"tokensources: warning: {mask_secrets(message, self._secrets)}", file=sys.stderr)


@contextmanager
def warnings_on_stderr(secrets: Iterable[str]) -> Iterator[None]:
    """While the block runs, the library's warnings are the command's own stderr lines.

    ``secrets`` (the command's ``KnownSecrets``) is read at each warning,
    so secrets read inside the block are masked too.
    """
    logger = logging.getLogger(_LIBRARY_LOGGER)
    handler = _StderrWarnings(secrets)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
