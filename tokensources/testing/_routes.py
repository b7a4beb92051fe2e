"""The ASGI application of the testing server: read a request, route it, send the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ._asgi import (
    Receive,
    Request,
    RequestTooLarge,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
    send_response,
)

__all__ = ["Endpoint", "Router"]


class Endpoint(Protocol):
    """Something that answers requests: the token endpoint, the JWKS, the metadata, the API."""

    async def handle(self, request: Request) -> Response:
        """The complete response to ``request``."""
        ...


class Router:
    """An ASGI 3.0 application that hands each request to the endpoint of its path.

    Args:
        paths: endpoints by exact path.
        prefixes: endpoints by path prefix, tried in order after ``paths``.
    """

    def __init__(
        self, paths: Mapping[str, Endpoint], prefixes: Sequence[tuple[str, Endpoint]] = ()
    ) -> None:
        self._paths = dict(paths)
        self._prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope: lifespan events or one HTTP request."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # nothing here speaks websockets
        try:
            request = await read_request(scope, receive)
        except RequestTooLarge:
            payload = {"error": "invalid_request", "error_description": "request body too large"}
            await send_response(send, json_response(413, payload))
            return
        await send_response(send, await self.route(request))

    async def route(self, request: Request) -> Response:
        """The answer of the endpoint serving ``request.path``, or 404 (405 for non-GET)."""
        endpoint = self._paths.get(request.path)
        if endpoint is None:
            endpoint = next(
                (found for prefix, found in self._prefixes if request.path.startswith(prefix)),
                None,
            )
        if endpoint is not None:
            return await endpoint.handle(request)
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        return json_response(404, {"error": "not_found"})


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to start or stop, but a server that sends lifespan events
    # expects each one acknowledged.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
