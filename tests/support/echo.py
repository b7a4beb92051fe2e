"""An endpoint (or a proxy in front of one) that reflects the request in its error page.

Real ones exist: debugging proxies, API gateways that put the failed request
in their error event, servers that quote the header they could not parse.
This one is a plain ASGI app, served in-process through
``httpx.ASGITransport`` or on loopback, and it can reflect the request in
each of the shapes such pages use.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Shape = Literal["html", "json_description", "base64_description", "base64_event", "text"]
SHAPES: tuple[Shape, ...] = (
    "html",
    "json_description",
    "base64_description",
    "base64_event",
    "text",
)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key"})


class ReflectingEndpoint:
    """Answers every request with ``status`` and a page that shows the whole request.

    Shapes: ``html`` (headers and body in an HTML page, HTML-escaped),
    ``json_description`` (an OAuth error whose description quotes them),
    ``base64_description`` (an OAuth error quoting the request it could
    not read, base64-encoded),
    ``base64_event`` (a gateway event: the headers as JSON, the body
    base64-encoded) and ``text`` (a plain-text dump).
    """

    def __init__(self, status: int = 502, shape: Shape = "html") -> None:
        self.status = status
        self.shape = shape
        self.requests = 0
        self.pages: list[str] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests += 1
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        query = scope["query_string"].decode()
        target = scope["path"] + (f"?{query}" if query else "")
        content_type, page = self._page(scope["method"], target, headers, body)
        self.pages.append(page)
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": page.encode()})

    def _page(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[str, str]:
        # The credential-bearing headers and the body first, as pages that say
        # what they could not use do, so that they fall inside an excerpt.
        first = [(k, v) for k, v in headers if k in _CREDENTIAL_HEADERS]
        rest = [(k, v) for k, v in headers if k not in _CREDENTIAL_HEADERS]
        lines = [f"{method} {target}", *(f"{k}: {v}" for k, v in first), body.decode()]
        lines += [f"{k}: {v}" for k, v in rest]
        dump = "\n".join(lines)
        if self.shape == "html":
            return "text/html", f"<html><body><h1>Bad Gateway</h1><pre>{html.escape(dump)}</pre>"
        if self.shape == "json_description":
            error = {"error": "invalid_client", "error_description": f"could not use: {dump}"}
            return "application/json", json.dumps(error)
        if self.shape == "base64_description":
            quoted = base64.b64encode(dump.encode()).decode()
            error = {"error": "invalid_request", "error_description": f"unreadable: {quoted}"}
            return "application/json", json.dumps(error)
        if self.shape == "base64_event":
            event = {
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
                "path": target,
                "headers": dict(headers),
            }
            return "application/json", json.dumps({"message": "Internal error", "event": event})
        return "text/plain", dump
