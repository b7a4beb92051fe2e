"""The protected demo API: ``GET /api/public``, ``GET /api/private`` and ``/api/redirect``.

``/api/private`` is protected by ``tokensources.verify.JWTVerifier`` with the
server's own keys, and answers as RFC 6750 §3 says: 401 with a bare
``Bearer`` challenge when there is no token, 401 with
``error="invalid_token"`` for an unacceptable one, 400 with
``error="invalid_request"`` for a malformed ``Authorization`` header, and 403
with ``error="insufficient_scope"`` when the token lacks ``read:messages``.
The answer never echoes the token or says what exactly was wrong with it.

``/api/redirect?to=...`` answers any method with ``307 Temporary Redirect``
to ``to`` (a path on this server, or any absolute URL; ``/api/private``
when absent), for testing what clients do with credentials across
redirects.

DPoP (RFC 9449 §7): a ``DPoP`` token is accepted with its proof (see
``ResourceDPoP``); a refused proof is answered 401 with a ``DPoP``
challenge (``invalid_dpop_proof``, or ``use_dpop_nonce`` and the nonce in
``DPoP-Nonce``), and the proof's key thumbprint is recorded in the request
log (``dpop_jkt``).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from .._errors import InvalidTokenError
from ..verify import challenge
from ..verify._bearer import access_token
from ._access_tokens import AccessTokens
from ._asgi import Request, Response, json_response
from ._counters import Counters
from ._dpop import ResourceDPoP
from ._tls import check_binding

__all__ = ["REQUIRED_SCOPE", "DemoApi"]

REQUIRED_SCOPE = "read:messages"
PUBLIC_PATH = "/api/public"
PRIVATE_PATH = "/api/private"
REDIRECT_PATH = "/api/redirect"
_PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
_PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."


class DemoApi:
    """A resource server that accepts the issuer's tokens, as an API under test would.

    Args:
        counters: where API requests and their 401 and 403 answers are counted.
        tokens: the check a bearer token must pass.
        dpop: DPoP at the API; None refuses ``DPoP`` tokens.
    """

    def __init__(
        self, *, counters: Counters, tokens: AccessTokens, dpop: ResourceDPoP | None = None
    ) -> None:
        self._counters = counters
        self._tokens = tokens
        self._dpop = dpop

    async def handle(self, request: Request) -> Response:
        """Answer a request under ``/api/``."""
        response = await self._answer(request)
        return response if self._dpop is None else self._dpop.with_nonce(response)

    async def _answer(self, request: Request) -> Response:
        counters = self._counters
        counters.api_requests += 1
        request.facts.endpoint = "api"
        if request.path == REDIRECT_PATH:
            return _redirect(request)
        if request.path not in (PUBLIC_PATH, PRIVATE_PATH):
            return json_response(404, {"error": "not_found"})
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        if request.path == PUBLIC_PATH:
            return json_response(200, {"message": _PUBLIC_MESSAGE})
        try:
            schemes = ("bearer",) if self._dpop is None else ("bearer", "dpop")
            scheme, token = access_token(request.headers.get("authorization"), schemes=schemes)
            claims = self._tokens.verify(token, scopes=[REQUIRED_SCOPE])
            check_binding(claims, request.headers)  # RFC 8705 §3: bound to a certificate
            if self._dpop is not None:
                proof = self._dpop.check(request, claims, scheme, token)  # RFC 9449 §7
                request.facts.dpop_jkt = None if proof is None else proof.jkt
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


def _redirect(request: Request) -> Response:
    """307 to the ``to`` of the query: the method and body are to be sent again as they were."""
    targets = parse_qs(request.query).get("to") or [PRIVATE_PATH]
    location = targets[0]
    if not location.isascii() or any(ord(c) < 0x21 for c in location):
        return json_response(400, {"error": "invalid_request"})
    return json_response(307, {"location": location}, headers=[("location", location)])
