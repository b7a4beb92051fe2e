"""Async OAuth 2.0 machine-to-machine access tokens: one fetch per token lifetime.

Sources fetch tokens, wrappers (``reuse``, ``buffer``, ``retry``) cache and
refresh them, shared sources spread one token across processes and hosts,
and ``TokenAuth`` puts it on every ``httpx`` request.
"""

from __future__ import annotations

from ._auth import TokenAuth
from ._blocking import Blocking, blocking
from ._errors import (
    ConfigError,
    InsufficientScopeError,
    InvalidTokenError,
    TokenEndpointError,
    TokenExpiredError,
    TokenRequestError,
    TokenResponseError,
    TokenSourceError,
)
from ._source import Clock, EventHook, EventKind, TokenEvent, TokenSource
from ._token import Token
from .shared import InMemoryShared, RedisShared
from .sources import (
    AuthStyle,
    ClientAssertion,
    ClientCredentials,
    ClientSecretJWT,
    DPoPKey,
    External,
    FileToken,
    GitHubActionsOIDC,
    JWTBearer,
    MutualTLS,
    PrivateKeyJWT,
    SignedAssertion,
    Static,
    TokenExchange,
    discover,
)
from .wrappers import Buffer, Retry, Reuse, buffer, retry, reuse

__version__ = "0.1.0"

__all__ = [
    "AuthStyle",
    "Blocking",
    "Buffer",
    "ClientAssertion",
    "ClientCredentials",
    "ClientSecretJWT",
    "Clock",
    "ConfigError",
    "DPoPKey",
    "EventHook",
    "EventKind",
    "External",
    "FileToken",
    "GitHubActionsOIDC",
    "InMemoryShared",
    "InsufficientScopeError",
    "InvalidTokenError",
    "JWTBearer",
    "MutualTLS",
    "PrivateKeyJWT",
    "RedisShared",
    "Retry",
    "Reuse",
    "SignedAssertion",
    "Static",
    "Token",
    "TokenAuth",
    "TokenEndpointError",
    "TokenEvent",
    "TokenExchange",
    "TokenExpiredError",
    "TokenRequestError",
    "TokenResponseError",
    "TokenSource",
    "TokenSourceError",
    "blocking",
    "buffer",
    "discover",
    "retry",
    "reuse",
]
