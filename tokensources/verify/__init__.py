"""Verifying bearer JWT access tokens: the resource-server side of the same tokens.

An API checks that an incoming ``Authorization: Bearer …`` token was signed
by its issuer, is meant for it, is within its lifetime and grants the
scopes a route requires::

    verifier = JWTVerifier("https://example.eu.auth0.com/", "https://api.example.com")
    claims = await verifier.verify(token, scopes=["read:messages"])

``BearerAuth`` does the same as ASGI middleware (Starlette, FastAPI, any
ASGI app) and answers refused requests as RFC 6750 says; ``authenticate``
and ``challenge`` are the pieces for framework dependencies.
"""

from __future__ import annotations

from .._errors import InsufficientScopeError, InvalidTokenError
from ._asgi import CLAIMS_KEY, ASGIApp, BearerAuth, authenticate, claims_from
from ._bearer import Challenge, bearer_token, challenge
from ._claims import Claims, require_scopes
from ._verifier import JWTVerifier

__all__ = [
    "CLAIMS_KEY",
    "ASGIApp",
    "BearerAuth",
    "Challenge",
    "Claims",
    "InsufficientScopeError",
    "InvalidTokenError",
    "JWTVerifier",
    "authenticate",
    "bearer_token",
    "challenge",
    "claims_from",
    "require_scopes",
]
