"""Static: a token you already have."""

from __future__ import annotations

import time

from .._errors import ConfigError, TokenExpiredError
from .._source import Clock
from .._token import Token

__all__ = ["Static"]


class Static:
    """A source that always returns the same token.

    For a token obtained elsewhere (a CI secret, a long-lived API token).
    It never refreshes: once the token's known expiry has passed,
    ``token()`` raises ``TokenExpiredError``. A token without a known expiry
    is returned forever.

    Args:
        token: the token, as a ``Token`` or as the bare access token string
            (then of type ``Bearer`` with unknown expiry).
        clock: wall-clock time, for the expiry check.

    Raises:
        ConfigError: ``token`` is neither a non-empty string nor a ``Token``.
    """

    def __init__(self, token: Token | str, *, clock: Clock = time.time) -> None:
        if isinstance(token, str):
            token = Token(access_token=token)
        if not isinstance(token, Token):
            raise ConfigError("token must be a Token or an access token string")
        self._token = token
        self._clock = clock

    def __repr__(self) -> str:
        return f"Static({self._token!r})"

    async def token(self) -> Token:
        """Return the token, or raise ``TokenExpiredError`` once it has expired.

        Concurrency and cancellation: no I/O, no waiting; safe everywhere.
        """
        if self._token.expired(self._clock()):
            raise TokenExpiredError(
                f"the static token {self._token.fingerprint} expired at "
                f"{self._token.expires_at} and cannot be renewed"
            )
        return self._token

    def invalidate(self, token: Token) -> None:
        """Do nothing: a static token cannot be replaced."""
