"""The protected demo API: ``GET /api/public`` and ``GET /api/private``.

``/api/private`` is protected by ``tokensources.verify.JWTVerifier`` with the
server's own keys, and answers as RFC 6750 §3 says: 401 with a bare
``Bearer`` challenge when there is no token, 401 with
``error="invalid_token"`` for an unacceptable one, 400 with
``error="invalid_request"`` for a malformed ``Authorization`` header, and 403
with ``error="insufficient_scope"`` when the token lacks ``read:messages``.
The answer never echoes the token or says what exactly was wrong with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import InvalidTokenError
from ..verify import bearer_token, challenge
from ._asgi import Request, Response, json_response

if TYPE_CHECKING:
    from ._server import AuthorizationServer

__all__ = ["REQUIRED_SCOPE", "handle_api_request"]

REQUIRED_SCOPE = "read:messages"
_PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
_PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."


async def handle_api_request(server: AuthorizationServer, request: Request) -> Response:
    """Answer a request under ``/api/``."""
    counters = server.counters
    counters.api_requests += 1
    if request.path not in ("/api/public", "/api/private"):
        return json_response(404, {"error": "not_found"})
    if request.method != "GET":
        return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
    if request.path == "/api/public":
        return json_response(200, {"message": _PUBLIC_MESSAGE})
    try:
        token = bearer_token(request.headers.get("authorization"))
        claims = await server._api_verifier().verify(token, scopes=[REQUIRED_SCOPE])
    except InvalidTokenError as exc:  # InsufficientScopeError included
        answer = challenge(exc, scopes=[REQUIRED_SCOPE])
        if answer.status == 403:
            counters.api_forbidden += 1
        else:
            counters.api_unauthorized += 1
        headers = list(answer.headers.items())
        return json_response(answer.status, {"error": answer.body["error"]}, headers=headers)
    return json_response(200, {"message": _PRIVATE_MESSAGE, "sub": claims["sub"]})
