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

from .._errors import InvalidTokenError
from ..verify import bearer_token, challenge
from ._access_tokens import AccessTokens
from ._asgi import Request, Response, json_response
from ._counters import Counters
from ._tls import check_binding

__all__ = ["REQUIRED_SCOPE", "DemoApi"]

REQUIRED_SCOPE = "read:messages"
PUBLIC_PATH = "/api/public"
PRIVATE_PATH = "/api/private"
_PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
_PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."


class DemoApi:
    """A resource server that accepts the issuer's tokens, as an API under test would.

    Args:
        counters: where API requests and their 401 and 403 answers are counted.
        tokens: the check a bearer token must pass.
    """

    def __init__(self, *, counters: Counters, tokens: AccessTokens) -> None:
        self._counters = counters
        self._tokens = tokens

    async def handle(self, request: Request) -> Response:
        """Answer a request under ``/api/``."""
        counters = self._counters
        counters.api_requests += 1
        request.facts.endpoint = "api"
        if request.path not in (PUBLIC_PATH, PRIVATE_PATH):
            return json_response(404, {"error": "not_found"})
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        if request.path == PUBLIC_PATH:
            return json_response(200, {"message": _PUBLIC_MESSAGE})
        try:
            token = bearer_token(request.headers.get("authorization"))
            claims = self._tokens.verify(token, scopes=[REQUIRED_SCOPE])
            check_binding(claims, request.headers)  # RFC 8705 §3: bound to a certificate
        except InvalidTokenError as exc:  # InsufficientScopeError included
            answer = challenge(exc, scopes=[REQUIRED_SCOPE])
            if answer.status == 403:
                counters.api_forbidden += 1
            else:
                counters.api_unauthorized += 1
            headers = list(answer.headers.items())
            request.facts.error = str(answer.body["error"])
            return json_response(answer.status, {"error": answer.body["error"]}, headers=headers)
        return json_response(200, {"message": _PRIVATE_MESSAGE, "sub": claims["sub"]})
