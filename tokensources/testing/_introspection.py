"""``POST /oauth/introspect``: RFC 7662 token introspection for one issuer's tokens.

The endpoint answers for the issuer's signed access tokens (checked with
the same verifier as the demo API) and for opaque tokens it hands out
itself (``issue_opaque``), so resource servers can be tested against both
kinds. Tokens can be revoked (``revoke``); a revoked, expired, unknown or
malformed token is inactive. Callers authenticate as clients of the issuer
(RFC 7662 §2.1), with any method the issuer's token endpoint accepts.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .._errors import InvalidTokenError
from ._access_tokens import numeric
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
from ._client_auth import ClientAuthenticator
from ._clients import ClientRegistry
from ._issuer import Issuer
from ._oauth_errors import OAuthError, error_response
from ._paths import INTROSPECTION_PATH
from ._token_request import parse_token_request

__all__ = ["INTROSPECTION_PATH", "IntrospectionEndpoint", "TokenCheck"]

# RFC 7662 §2.2: what an inactive token gets — nothing else, nothing about why.
_INACTIVE: dict[str, Any] = {"active": False}


class TokenCheck(Protocol):
    """The check the issuer's signed tokens pass (``AccessTokens``)."""

    def verify(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid token.

        Raises:
            InvalidTokenError: the token is not valid.
        """
        ...


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class IntrospectionEndpoint:
    """The RFC 7662 introspection endpoint of one issuer.

    An ``Endpoint`` of the server's router (``handle``) and an ASGI
    application on its own (for mounting in a test's app).

    Args:
        issuer: the issuer: its URL (``iss`` of opaque tokens), default
            audience and token lifetime, and its clock.
        tokens: the check its signed access tokens pass.
        authenticator: how callers (resource servers) authenticate.
        clients: the registered clients, whose scopes and token lifetime
            opaque tokens get by default; None: no scope, the issuer's lifetime.

    Attributes:
        requests: introspection requests received, whatever their outcome.
    """

    def __init__(
        self,
        *,
        issuer: Issuer,
        tokens: TokenCheck,
        authenticator: ClientAuthenticator,
        clients: ClientRegistry | None = None,
    ) -> None:
        self._issuer = issuer
        self._clients = clients
        self._tokens = tokens
        self._authenticator = authenticator
        self._opaque: dict[bytes, dict[str, Any]] = {}
        self._revoked: set[bytes] = set()
        self.requests = 0

    def issue_opaque(
        self,
        client_id: str = "demo-client",
        *,
        scope: str | Iterable[str] | None = None,
        audience: str | list[str] | None = None,
        lifetime: float | None = None,
    ) -> str:
        """A new opaque access token (random, not a JWT) that this endpoint answers for.

        Args:
            client_id: its ``sub`` and ``client_id``.
            scope: its scopes, a space-separated string or a list; None: the
                registered client's (none for an unknown client).
            audience: its ``aud``; None: the issuer's audience.
            lifetime: seconds until ``exp``; None: the registered client's
                token lifetime, or else the issuer's.
        """
        client = self._clients.get(client_id) if self._clients is not None else None
        if scope is None:
            scope = client.scopes if client is not None else ()
        if lifetime is None:
            default = self._issuer.token_lifetime
            lifetime = client.lifetime_or(default) if client is not None else default
        token = secrets.token_urlsafe(32)
        now = self._issuer.now()
        self._opaque[_digest(token)] = {
            "iss": self._issuer.url,
            "sub": client_id,
            "client_id": client_id,
            "aud": audience or self._issuer.audience,
            "scope": scope if isinstance(scope, str) else " ".join(scope),
            "iat": numeric(now),
            "exp": numeric(now + lifetime),
            "token_type": "Bearer",
        }
        return token

    def revoke(self, token: str) -> None:
        """Make ``token`` (signed or opaque) inactive from now on."""
        self._revoked.add(_digest(token))

    def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer about ``token``, as the endpoint would send it."""
        digest = _digest(token)
        if digest in self._revoked:
            return dict(_INACTIVE)
        opaque = self._opaque.get(digest)
        if opaque is not None:
            if self._issuer.now() >= opaque["exp"]:
                return dict(_INACTIVE)
            return {"active": True, **opaque}
        try:
            claims = self._tokens.verify(token)
        except InvalidTokenError:
            return dict(_INACTIVE)
        return {"active": True, **claims, "token_type": "Bearer"}

    async def handle(self, request: Request) -> Response:
        """Answer one introspection request."""
        request.facts.endpoint = "introspection"
        self.requests += 1
        if request.method != "POST":
            # RFC 7662 §2.1: the endpoint takes POST.
            error = OAuthError(
                "invalid_request", "the introspection endpoint accepts POST only", 405
            )
            return error_response(error, request.headers)
        try:
            form = parse_token_request(request)
            self._authenticator.authenticate(form)
            token = form.form.get("token")
            if token is None:
                raise OAuthError("invalid_request", "the token parameter is missing")
        except OAuthError as exc:
            request.facts.error = exc.error
            request.facts.outcome = "refused"
            return error_response(exc, request.headers)
        # RFC 7662 §2.2; never cached by anyone on the way.
        return json_response(200, self.introspect(token), no_store=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI HTTP request (any path) as the introspection endpoint."""
        if scope["type"] != "http":
            return
        try:
            request = await read_request(scope, receive)
        except RequestTooLarge:
            payload = {"error": "invalid_request", "error_description": "request body too large"}
            await send_response(send, json_response(413, payload))
            return
        await send_response(send, await self.handle(request))

    def __repr__(self) -> str:
        return f"IntrospectionEndpoint(issuer={self._issuer.url!r}, requests={self.requests})"
