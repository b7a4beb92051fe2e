"""Where the testing server's endpoints live: the URL layout, one place for every part."""

from __future__ import annotations

__all__ = ["API_PREFIX", "JWKS_PATH", "METADATA_PATHS", "TOKEN_PATH"]

TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
# OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: the same document under both names.
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
API_PREFIX = "/api/"
