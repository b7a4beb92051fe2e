"""The token exchange grant (RFC 8693): a token for the subject of a trusted token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._access_tokens import AccessTokens
from ._clients import RegisteredClient
from ._grants import granted_audience, granted_scopes, token_response
from ._issuer import Issuer
from ._oauth_errors import OAuthError
from ._subject_tokens import SubjectValidator
from ._token_request import TokenRequest
from ._workload_issuer import WorkloadIssuer

__all__ = ["TokenExchangeGrant"]

_TYPE = "urn:ietf:params:oauth:token-type:"
# RFC 8693 §3: the subject types this server can validate (all of them JWTs).
SUBJECT_TYPES = frozenset({_TYPE + "jwt", _TYPE + "id_token", _TYPE + "access_token"})
# What it issues: its own JWT access tokens, under either name.
ISSUED_TYPES = frozenset({_TYPE + "access_token", _TYPE + "jwt"})


class TokenExchangeGrant:
    """Issues a token for the ``sub`` of a trusted subject token (and records an actor).

    The issued token's ``sub`` is the subject's, ``client_id`` the client's;
    an actor appears as the ``act`` claim (RFC 8693 §4.1). Its lifetime is
    the client's, and no longer than the subject's when the subject's
    workload issuer is ``bound_to_subject``. The request may be a form or,
    in the JSON dialect, one JSON object of the same parameters (see
    ``parse_token_request``).

    Args:
        issuer: the issuer's defaults (audience, token lifetime, clock).
        tokens: signs the access tokens.
        subjects: validates subject and actor tokens.
    """

    grant_type = "urn:ietf:params:oauth:grant-type:token-exchange"

    def __init__(self, issuer: Issuer, tokens: AccessTokens, subjects: SubjectValidator) -> None:
        self._issuer = issuer
        self._tokens = tokens
        self._subjects = subjects

    def issue(self, request: TokenRequest, client: RegisteredClient) -> dict[str, Any]:
        """The exchanged token's answer, with ``issued_token_type`` (RFC 8693 §2.2.1).

        Raises:
            OAuthError: ``invalid_request`` (a missing or unsupported
                parameter), ``invalid_grant`` (a subject or actor not
                trusted), ``invalid_target``, ``invalid_scope``.
        """
        form = request.form
        claims, workload = self._presented(form, "subject", client.client_id)
        extra: dict[str, Any] = {"sub": claims.get("sub")}
        if "actor_token" in form or "actor_token_type" in form:
            actor, _ = self._presented(form, "actor", client.client_id)
            extra["act"] = {"sub": actor.get("sub"), "iss": actor.get("iss")}
        requested = form.get("requested_token_type", _TYPE + "access_token")
        if requested not in ISSUED_TYPES:
            raise OAuthError("invalid_request", "the requested_token_type cannot be issued here")
        scopes = granted_scopes(client, form.get("scope"))
        audience = granted_audience(
            client, form.get("audience"), request.resources, default=self._issuer.audience
        )
        lifetime = _bounded(
            client.lifetime_or(self._issuer.token_lifetime), claims, workload, self._issuer.now()
        )
        access_token = self._tokens.mint(
            client.client_id, " ".join(scopes), audience, lifetime, extra=extra
        )
        payload = token_response(access_token, lifetime, scopes)
        payload["issued_token_type"] = requested
        return payload

    def _presented(
        self, form: Mapping[str, str], role: str, client_id: str
    ) -> tuple[dict[str, Any], WorkloadIssuer | None]:
        token, kind = form.get(f"{role}_token"), form.get(f"{role}_token_type")
        if not token or not kind:
            raise OAuthError("invalid_request", f"{role}_token and {role}_token_type are required")
        if kind not in SUBJECT_TYPES:
            raise OAuthError("invalid_request", f"the {role}_token_type is not supported")
        return self._subjects.claims(token, what=f"{role}_token", client_id=client_id)


def _bounded(
    lifetime: float, claims: dict[str, Any], workload: WorkloadIssuer | None, now: float
) -> float:
    """``lifetime``, cut to the subject's remaining life when its issuer asks for that."""
    exp = claims.get("exp")
    if workload is not None and workload.bound_to_subject and isinstance(exp, (int, float)):
        return min(lifetime, float(exp) - now)
    return lifetime
