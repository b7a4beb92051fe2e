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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .._errors import InvalidTokenError
from ..verify import bearer_token, challenge
from ._asgi import Request, Response, json_response
from ._keys import SIGNING_ALGORITHM

if TYPE_CHECKING:
    from ._server import AuthorizationServer

__all__ = ["REQUIRED_SCOPE", "handle_api_request", "verify_access_token"]

REQUIRED_SCOPE = "read:messages"
_PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
_PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."


def verify_access_token(
    token: str,
    public_key: Callable[[str], rsa.RSAPublicKey | None],
    *,
    issuer: str,
    audience: str,
    now: float,
) -> dict[str, Any]:
    """Verify an access token issued by this server and return its claims.

    Checks the signature against the published key named by ``kid``, the
    ``iss`` and ``aud`` claims, and ``exp`` against ``now`` (the server's
    clock, not the machine's).

    Raises:
        InvalidTokenError: the token is not acceptable (the message never holds it).
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidTokenError("the token names no published signing key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[SIGNING_ALGORITHM],
            audience=audience,
            issuer=issuer,
            # Expiry is checked below against the injected clock.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                     "require": ["exp", "iss", "aud", "sub"]},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"the token failed verification ({type(exc).__name__})") from None
    exp = claims["exp"]
    if not isinstance(exp, (int, float)) or exp <= now:
        raise InvalidTokenError("the token has expired")
    return claims


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
