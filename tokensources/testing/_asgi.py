"""Tiny ASGI request and response helpers for the testing server.

Just enough of ASGI 3.0 for a handful of JSON endpoints: read a bounded
request body, look at headers, and send one complete response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ._facts import RequestFacts

__all__ = [
    "MAX_REQUEST_BODY",
    "ConnectionDropped",
    "Message",
    "Receive",
    "Request",
    "RequestTooLarge",
    "Response",
    "Scope",
    "Send",
    "json_response",
    "read_request",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Token requests and assertions are a few KiB; 64 KiB bounds a hostile body.
MAX_REQUEST_BODY = 64 * 1024


class ConnectionDropped(Exception):  # noqa: N818 - it names an event, not a failure
    """Raised by the app to make the server drop the connection without answering.

    The loopback server closes the socket; the in-process transport of
    ``AuthorizationServer.client()`` turns it into ``httpx.RemoteProtocolError``.
    """


class RequestTooLarge(Exception):  # noqa: N818 - it names a condition
    """The request body is larger than the server accepts."""


@dataclass(slots=True)
class Request:
    """An HTTP request as the endpoints see it: method, path, headers and body.

    ``path`` is the path within the issuer that answers (a tenant's prefix
    taken off); ``facts`` is where the endpoint notes what it learned, for
    the request log.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    scheme: str = "http"
    host: str = ""  # the client's Host header: chosen by the client, so never trusted
    query: str = ""  # the raw query string, undecoded
    facts: RequestFacts = field(default_factory=RequestFacts)


@dataclass(slots=True)
class Response:
    """A complete HTTP response: status, headers and body bytes."""

    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = b"application/json"


def json_response(
    status: int, payload: Any, *, headers: Iterable[tuple[str, str]] = (), no_store: bool = False
) -> Response:
    """A JSON response; ``no_store`` adds the RFC 6749 §5.1 cache headers."""
    extra = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if no_store:
        extra += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, extra)


def _headers(scope: Scope) -> dict[str, str]:
    # The first of duplicate headers wins (Authorization, Host, ...): a request
    # with two is malformed either way, and the first is what most servers use.
    # Except DPoP: RFC 9449 §4.3 wants exactly one proof, so repeated ones are
    # combined as RFC 9110 §5.3 says, and the proof check refuses the result.
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name not in headers:
            headers[name] = raw_value.decode("latin-1")
        elif name == "dpop":
            headers[name] += ", " + raw_value.decode("latin-1")
    return headers


async def read_request(scope: Scope, receive: Receive, *, limit: int = MAX_REQUEST_BODY) -> Request:
    """Read the whole request body (at most ``limit`` bytes) into a ``Request``.

    Raises:
        RequestTooLarge: the body is larger than ``limit``.
        ConnectionDropped: the client went away before the body was complete.
    """
    headers = _headers(scope)
    chunks: list[bytes] = []
    size = 0
    more = scope["method"] in ("POST", "PUT", "PATCH")
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionDropped
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge
        chunks.append(chunk)
        more = bool(message.get("more_body", False))
    return Request(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=b"".join(chunks),
        scheme=scope.get("scheme", "http"),
        host=headers.get("host", ""),
        query=bytes(scope.get("query_string", b"")).decode("latin-1"),
        facts=RequestFacts(path=scope["path"]),
    )


async def send_response(send: Send, response: Response) -> None:
    """Send ``response`` as one ``http.response.start`` and one body message."""
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
