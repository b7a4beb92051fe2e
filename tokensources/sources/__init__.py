"""Token sources: where tokens come from. None of them caches; see ``reuse()``.

A grant source is a grant (``_grant``) plus a client authentication
strategy (``_client_auth``: a client secret, a signed assertion, ...);
``External`` and ``Static`` take tokens from elsewhere.
"""

from __future__ import annotations

from ._client_assertion import ClientAssertion
from ._client_credentials import ClientCredentials
from ._client_secret_jwt import ClientSecretJWT
from ._discovery import discover
from ._dpop_key import DPoPKey
from ._external import External, FetchToken
from ._file_token import FileToken
from ._github_actions import GitHubActionsOIDC
from ._jwt_bearer import JWTBearer
from ._mutual_tls import MutualTLS
from ._private_key_jwt import PrivateKeyJWT
from ._secret_auth import AuthStyle
from ._signed_assertion import SignedAssertion
from ._static import Static
from ._token_exchange import TokenExchange

__all__ = [
    "AuthStyle",
    "ClientAssertion",
    "ClientCredentials",
    "ClientSecretJWT",
    "DPoPKey",
    "External",
    "FetchToken",
    "FileToken",
    "GitHubActionsOIDC",
    "JWTBearer",
    "MutualTLS",
    "PrivateKeyJWT",
    "SignedAssertion",
    "Static",
    "TokenExchange",
    "discover",
]
