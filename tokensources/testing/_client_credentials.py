"""The client_credentials grant (RFC 6749 §4.4): a token for the client itself."""

from __future__ import annotations

from typing import Any

from ._access_tokens import AccessTokens
from ._claim_mappings import ClaimMappings, MappingContext
from ._clients import RegisteredClient
from ._grants import granted_audience, granted_scopes, token_response
from ._issuer import Issuer
from ._tls import binding_claims
from ._token_request import TokenRequest

__all__ = ["ClientCredentialsGrant"]


class ClientCredentialsGrant:
    """Issues a client a token for itself: its scopes, an allowed audience, its lifetime.

    Args:
        issuer: the issuer's defaults (audience, token lifetime).
        tokens: signs the access tokens.
        mappings: extra claims for some clients, scopes or form fields.
    """

    grant_type = "client_credentials"

    def __init__(self, issuer: Issuer, tokens: AccessTokens, mappings: ClaimMappings) -> None:
        self._issuer = issuer
        self._tokens = tokens
        self._mappings = mappings

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
        context = MappingContext(
            client_id=client.client_id,
            scopes=scopes,
            grant_type=self.grant_type,
            issuer=self._issuer.url,
            tenant=self._issuer.name,
            form=form,
        )
        # RFC 8705 §3: a client that authenticated with its certificate gets a bound token.
        extra = {**binding_claims(client.bound_to), **self._mappings.claims_for(context)}
        access_token = self._tokens.mint(
            client.client_id, " ".join(scopes), audience, lifetime, extra=extra
        )
        return token_response(access_token, lifetime, scopes)
