"""Verifying access tokens: the resource-server side of the same tokens.

An API checks that an incoming ``Authorization: Bearer …`` token was issued
by its authorization server, is meant for it, is within its lifetime and
grants the scopes a route requires::

    verifier = JWTVerifier("https://example.eu.auth0.com/", "https://api.example.com")
    claims = await verifier.verify(token, scopes=["read:messages"])

``JWTVerifier`` checks signed JWTs itself (and remembers the tokens it
accepted, so a token seen before costs a lookup); ``Introspection`` asks the
authorization server about any token, opaque ones included (RFC 7662). Both
are a ``Verifier``. ``BearerAuth`` protects an ASGI app (Starlette, FastAPI,
any ASGI app) with either, answers refused requests as RFC 6750 says, and,
given ``ResourceMetadata``, serves the resource's RFC 9728 metadata and
names it in every challenge; ``authenticate`` and ``challenge`` are the
pieces for framework dependencies. ``fetch_resource_metadata`` is the
client's side of RFC 9728.
"""

from __future__ import annotations

from .._errors import InsufficientScopeError, InvalidTokenError
from ._asgi import CLAIMS_KEY, BearerAuth, authenticate, claims_from
from ._asgi_types import ASGIApp
from ._bearer import Challenge, bearer_token, challenge
from ._claims import Claims, require_scopes
from ._contract import Verifier
from ._dpop import DPoPNonceError, DPoPProofChecker, DPoPProofError, DPoPReplays
from ._dpop_nonce import DPoPNonce
from ._introspection import Introspection
from ._metadata_client import fetch_resource_metadata
from ._resource_metadata import ResourceMetadata
from ._verifier import JWTVerifier

__all__ = [
    "CLAIMS_KEY",
    "ASGIApp",
    "BearerAuth",
    "Challenge",
    "Claims",
    "DPoPNonce",
    "DPoPNonceError",
    "DPoPProofChecker",
    "DPoPProofError",
    "DPoPReplays",
    "InsufficientScopeError",
    "Introspection",
    "InvalidTokenError",
    "JWTVerifier",
    "ResourceMetadata",
    "Verifier",
    "authenticate",
    "bearer_token",
    "challenge",
    "claims_from",
    "fetch_resource_metadata",
    "require_scopes",
]
