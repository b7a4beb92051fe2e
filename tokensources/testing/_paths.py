"""Where the testing server's endpoints live: the URL layout, one place for every part."""

from __future__ import annotations

__all__ = [
    "API_PREFIX",
    "DEBUG_MINT_PATH",
    "DEBUG_PATH",
    "INTROSPECTION_PATH",
    "JWKS_PATH",
    "METADATA_PATHS",
    "TOKEN_PATH",
    "first_segment",
]

TOKEN_PATH = "/oauth/token"
# RFC 7662: where resource servers ask about tokens.
INTROSPECTION_PATH = "/oauth/introspect"
JWKS_PATH = "/.well-known/jwks.json"
# OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same document under both names.
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
API_PREFIX = "/api/"
# The page for people, on the root only; "_" keeps it apart from any tenant name.
DEBUG_PATH = "/_debug"
DEBUG_MINT_PATH = "/_debug/mint"


def first_segment(path: str) -> str:
    """The first segment of ``path``: ``"oauth"`` for ``/oauth/token``, ``""`` for ``/``."""
    return path.lstrip("/").partition("/")[0]
