"""Token sources: where tokens come from. None of them caches; see ``reuse()``.

A grant source is a grant (``_grant``) plus a client authentication
strategy (``_client_auth``: a client secret, a signed assertion, ...);
``External`` and ``Static`` take tokens from elsewhere.
"""

from __future__ import annotations

from ._client_credentials import ClientCredentials
from ._discovery import discover
from ._external import External, FetchToken
from ._private_key_jwt import PrivateKeyJWT
from ._secret_auth import AuthStyle
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
