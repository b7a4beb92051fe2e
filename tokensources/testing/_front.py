"""The ASGI application of the testing server: read, find the issuer, answer, log.

Every HTTP request goes through here: its body is read (bounded), the
issuer it is for is found by its first path segment, an answer queued for
its path (other than a token endpoint's, which match on the client too and
are taken by the token endpoint) answers it, or the issuer's endpoint does;
then it is written to the request log, dropped connections included.
"""

from __future__ import annotations

import dataclasses

from .._source import Clock
from ._answers import QueuedAnswers
from ._asgi import (
    ConnectionDropped,
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
from ._directory import IssuerDirectory
from ._paths import DEBUG_PATH, TOKEN_PATH
from ._request_log import RequestLog
from ._routes import Endpoint

__all__ = ["Front"]


class Front:
    """An ASGI 3.0 application in front of every issuer of one server.

    Args:
        directory: the issuers, by path.
        answers: the answers tests queued.
        log: where every request is recorded.
        clock: the server's clock, for the log's timestamps.
        debug: the page for people at ``/_debug``.
    """

    def __init__(
        self,
        *,
        directory: IssuerDirectory,
        answers: QueuedAnswers,
        log: RequestLog,
        clock: Clock,
        debug: Endpoint,
    ) -> None:
        self._directory = directory
        self._answers = answers
        self._log = log
        self._clock = clock
        self._debug = debug

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
        at = self._clock()
        try:
            response = await self.answer(request)
        except ConnectionDropped:
            self._log.record(at=at, method=request.method, status=None, facts=request.facts)
            raise
        self._log.record(at=at, method=request.method, status=response.status, facts=request.facts)
        await send_response(send, response)

    async def answer(self, request: Request) -> Response:
        """The answer to ``request``: the page, a queued answer, or the issuer's endpoint."""
        facts = request.facts
        facts.dpop_proof = "dpop" in request.headers  # RFC 9449 §4.1; verified by the endpoint
        if request.path == DEBUG_PATH or request.path.startswith(DEBUG_PATH + "/"):
            facts.endpoint = "debug"
            return await self._debug.handle(request)
        resolved = self._directory.resolve(request.path)
        facts.issuer = resolved.parts.issuer.name
        if resolved.path != TOKEN_PATH:
            queued = self._answers.take(request.path)
            if queued is not None:
                return queued.respond(request.headers, facts)
        local = dataclasses.replace(request, path=resolved.path)
        return await resolved.parts.router.route(local)


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
