"""Every error tokensources raises on purpose, in one tree.

::

    TokenSourceError                 base of everything raised on purpose; .transient
    ├── TokenRequestError            the exchange could not complete (transport, timeout)
    ├── TokenEndpointError           the endpoint answered with an error: status_code,
    │                                error, error_description, error_uri, retry_after
    ├── TokenResponseError           a 2xx answer that cannot be used (not JSON,
    │                                no access_token, absurd expires_in, too large)
    ├── TokenExpiredError            a token past its known expiry that cannot be renewed
    ├── InvalidTokenError            (verify) an incoming bearer token is not acceptable
    │   └── InsufficientScopeError   (verify) a valid token lacks a required scope
    └── ConfigError                  bad constructor or command-line input (also ValueError)

Classification lives on the error: ``retry()`` asks ``error.transient`` and
nothing else. No message, ``repr`` or attribute of these errors ever holds a
client secret, an assertion or an access token: bodies are truncated and
redacted before they are attached (see ``tokensources._redact``), and what
is redacted is every credential the request carried — the client's own, and
the header and query values of the request as sent — in every encoding an
answer may echo it in (percent-encoded, escaped, inside HTTP Basic's
base64, inside a base64 dump of the body).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "InsufficientScopeError",
    "InvalidTokenError",
    "TokenEndpointError",
    "TokenExpiredError",
    "TokenRequestError",
    "TokenResponseError",
    "TokenSourceError",
]

# RFC 6749 §5.2 errors that no amount of retrying will fix.
DEFINITIVE_OAUTH_ERRORS = frozenset(
    {
        "invalid_client",
        "invalid_grant",
        "invalid_request",
        "invalid_scope",
        "unauthorized_client",
        "unsupported_grant_type",
        "access_denied",
    }
)

# RFC 9110: 408 and 429 ask the client to come back later; 5xx is the server's fault.
_TRANSIENT_STATUS = frozenset({408, 425, 429})


class TokenSourceError(Exception):
    """Base class of every error raised on purpose by tokensources.

    Attributes:
        transient: True when the same request may succeed if tried again
            later (network trouble, timeouts, 408, 429, 5xx). ``retry()``
            retries exactly the errors for which this is true.
    """

    _transient: ClassVar[bool] = False

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return self._transient


class TokenRequestError(TokenSourceError):
    """The token request could not be completed: connection refused, reset, timed out.

    Transient, except where the failure is one of configuration that no
    retry can fix: a server certificate that the trusted CAs do not vouch
    for (``CERTIFICATE_VERIFY_FAILED``). The ``httpx`` exception is
    deliberately not chained (it holds the request, credentials included);
    its kind and, for network failures, the operating system's reason are
    kept.

    Attributes:
        url: the endpoint, without query or credentials.
        reason: the kind of failure, e.g. ``"ConnectError: All connection
            attempts failed"``.
        previous: with ``AuthStyle.AUTO``, the refusal of the first style
            when the second one could not be sent.
        transient: True unless the failure is one of configuration (see above).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        reason: str | None = None,
        previous: TokenEndpointError | None = None,
        transient: bool = True,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
        self.previous = previous
        self._retryable = transient

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed (see the class docstring)."""
        return self._retryable


class TokenEndpointError(TokenSourceError):
    """The token endpoint answered with an error (RFC 6749 §5.2 or a bare HTTP error).

    Attributes:
        status_code: the HTTP status (200 when a successful status carried an
            ``error`` field).
        error: the OAuth ``error`` code, or None when the body had none.
        error_description: the server's ``error_description`` (redacted).
        error_uri: the server's ``error_uri``.
        retry_after: seconds the server asked us to wait (``Retry-After``), or None.
        body_excerpt: the start of the body, redacted, for a body that was not
            an OAuth error document.
        previous: with ``AuthStyle.AUTO``, the error of the first style tried,
            so that both answers are visible when both fail.
        transient: true for 408, 425, 429 and 5xx unless ``error`` is a
            definitive OAuth error such as ``invalid_client``.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str | None = None,
        error_description: str | None = None,
        error_uri: str | None = None,
        retry_after: float | None = None,
        body_excerpt: str | None = None,
        url: str | None = None,
        previous: TokenEndpointError | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        self.retry_after = retry_after
        self.body_excerpt = body_excerpt
        self.url = url
        self.previous = previous

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed (see the class docstring)."""
        if self.error in DEFINITIVE_OAUTH_ERRORS:
            return False
        return self.status_code in _TRANSIENT_STATUS or self.status_code >= 500

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, "
            f"error={self.error!r}, retry_after={self.retry_after!r})"
        )


class TokenResponseError(TokenSourceError):
    """A successful (2xx) answer that cannot be used.

    For example an HTML page, JSON without ``access_token``, an
    ``expires_in`` that is negative or not a number, or a body larger than
    the read limit.

    Attributes:
        status_code: the HTTP status of the answer.
        content_type: its ``Content-Type`` header.
        body_excerpt: the start of the body, truncated and redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 200,
        content_type: str | None = None,
        body_excerpt: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.content_type = content_type
        self.body_excerpt = body_excerpt
        self.url = url


class TokenExpiredError(TokenSourceError):
    """A token is past its known expiry and the source cannot get a new one."""


class InvalidTokenError(TokenSourceError):
    """An incoming bearer token failed verification (signature, issuer, audience, expiry).

    The message says which check failed; it never contains the token.
    """


class InsufficientScopeError(InvalidTokenError):
    """A verified token does not carry a scope the resource requires.

    Attributes:
        missing: the required scopes that were absent.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class ConfigError(TokenSourceError, ValueError):
    """Bad constructor or command-line input, detected before any request is made.

    The message names the offending argument; it never echoes a secret or
    key material.
    """
