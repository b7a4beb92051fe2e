"""The JWT-bearer grant (RFC 7523 §2.1): a token for the subject of a trusted assertion."""

from __future__ import annotations

from typing import Any

from ._access_tokens import AccessTokens
from ._clients import RegisteredClient
from ._grants import granted_audience, granted_scopes, token_response
from ._issuer import Issuer
from ._oauth_errors import OAuthError
from ._subject_tokens import SubjectValidator
from ._token_request import TokenRequest

__all__ = ["JWTBearerGrant"]


class JWTBearerGrant:
    """Issues a token for the ``sub`` of a trusted JWT ``assertion`` (RFC 7523 §3 checks).

    The request may be a form or, in the JSON dialect, one JSON object of the
    same parameters (see ``parse_token_request``).

    Args:
        issuer: the issuer's defaults (audience, token lifetime).
        tokens: signs the access tokens.
        subjects: validates the assertion (signature, ``iss``, ``aud``, ``exp``).
    """

    grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def __init__(self, issuer: Issuer, tokens: AccessTokens, subjects: SubjectValidator) -> None:
        self._issuer = issuer
        self._tokens = tokens
        self._subjects = subjects

    def issue(self, request: TokenRequest, client: RegisteredClient) -> dict[str, Any]:
        """The token answer for the assertion's subject.

        Raises:
            OAuthError: ``invalid_request`` (no assertion), ``invalid_grant``
                (an assertion not trusted), ``invalid_scope``, ``invalid_target``.
        """
        form = request.form
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_request", "the assertion parameter is required")
        claims, _ = self._subjects.claims(assertion, what="assertion", client_id=client.client_id)
        scopes = granted_scopes(client, form.get("scope"))
        audience = granted_audience(
            client, form.get("audience"), request.resources, default=self._issuer.audience
        )
        lifetime = client.lifetime_or(self._issuer.token_lifetime)
        access_token = self._tokens.mint(
            client.client_id, " ".join(scopes), audience, lifetime, extra={"sub": claims.get("sub")}
        )
        return token_response(access_token, lifetime, scopes)
