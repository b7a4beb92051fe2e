"""RFC 6749 §5.2 error answers of the token endpoint, raised by every part behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._asgi import Response, json_response

__all__ = ["OAuthError", "error_response", "invalid_client", "invalid_grant"]


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer: ``error`` code, description and HTTP status.

    The description goes to the client as it is, so it never quotes a
    credential: it names what was wrong, not the value that was.

    Attributes:
        error: the error code.
        description: the ``error_description``, or None to send none.
        status: the HTTP status.
        retry_after: a ``Retry-After`` header value (RFC 9110 §10.2.3), or None.
        uri: the ``error_uri``, or None.
    """

    def __init__(
        self,
        error: str,
        description: str | None,
        status: int = 400,
        *,
        retry_after: str | None = None,
        uri: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after
        self.uri = uri


def invalid_client(description: str) -> OAuthError:
    """An ``invalid_client`` error: client authentication failed (401)."""
    return OAuthError("invalid_client", description, 401)


def invalid_grant(description: str) -> OAuthError:
    """An ``invalid_grant`` error: the grant (a code, an assertion, a subject token) is refused."""
    return OAuthError("invalid_grant", description)


def error_response(error: OAuthError, headers: Mapping[str, str]) -> Response:
    """The JSON answer for ``error`` to a request that carried ``headers``."""
    extra: list[tuple[str, str]] = []
    authorization = headers.get("authorization", "")
    if error.error == "invalid_client" and authorization[:6].lower() == "basic ":
        # RFC 6749 §5.2: Basic was tried, so answer 401 with a challenge.
        extra.append(("www-authenticate", 'Basic realm="tokensources-testing"'))
    if error.status == 405:
        extra.append(("allow", "POST"))
    if error.retry_after is not None:
        extra.append(("retry-after", error.retry_after))
    payload: dict[str, Any] = {"error": error.error}
    if error.description is not None:
        payload["error_description"] = error.description
    if error.uri is not None:
        payload["error_uri"] = error.uri
    return json_response(error.status, payload, headers=extra, no_store=True)
