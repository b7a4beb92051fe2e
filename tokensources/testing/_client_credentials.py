"""The client_credentials grant (RFC 6749 §4.4): a token for the client itself."""

from __future__ import annotations

from typing import Any

from ._access_tokens import AccessTokens
from ._clients import RegisteredClient
from ._grants import granted_audience, granted_scopes, token_response
from ._issuer import Issuer
from ._token_request import TokenRequest

__all__ = ["ClientCredentialsGrant"]


class ClientCredentialsGrant:
    """Issues a client a token for itself: its scopes, an allowed audience, its lifetime.

    Args:
        issuer: the issuer's defaults (audience, token lifetime).
        tokens: signs the access tokens.
    """

    grant_type = "client_credentials"

    def __init__(self, issuer: Issuer, tokens: AccessTokens) -> None:
        self._issuer = issuer
        self._tokens = tokens

    def issue(self, request: TokenRequest, client: RegisteredClient) -> dict[str, Any]:
        """The token answer for ``client``: the scopes and audience it asked for, if allowed.

        Raises:
            OAuthError: ``invalid_scope`` or ``invalid_target``.
        """
        form = request.form
        scopes = granted_scopes(client, form.get("scope"))
        audience = granted_audience(
            client, form.get("audience"), request.resources, default=self._issuer.audience
        )
        lifetime = client.lifetime_or(self._issuer.token_lifetime)
        access_token = self._tokens.mint(client.client_id, " ".join(scopes), audience, lifetime)
        return token_response(access_token, lifetime, scopes)
