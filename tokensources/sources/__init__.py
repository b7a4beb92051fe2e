"""Token sources: where tokens come from. None of them caches; see ``reuse()``."""

from __future__ import annotations

from ._client_credentials import AuthStyle, ClientCredentials
from ._discovery import discover
from ._external import External, FetchToken
from ._private_key_jwt import PrivateKeyJWT
from ._static import Static

__all__ = [
    "AuthStyle",
    "ClientCredentials",
    "External",
    "FetchToken",
    "PrivateKeyJWT",
    "Static",
    "discover",
]
