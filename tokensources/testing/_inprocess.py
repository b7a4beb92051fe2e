"""The in-process transport: httpx talks to the app without a socket."""

from __future__ import annotations

import httpx

from ._asgi import ConnectionDropped

__all__ = ["InProcessTransport"]


class InProcessTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` that reports a dropped connection as httpx would.

    A ``drop_next`` fault makes the app raise ``ConnectionDropped``; over a
    real socket httpx would see the server close the connection, so the same
    ``httpx.RemoteProtocolError`` (a ``httpx.TransportError``) is raised here.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the app in-process and return its response."""
        try:
            response = await super().handle_async_request(request)
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        # The app's body is already in memory. Hand it over as a plain byte
        # stream: ASGITransport's own stream is an async generator, which a
        # reader that stops early (a size limit) cannot close on trio.
        body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions=response.extensions,
        )
