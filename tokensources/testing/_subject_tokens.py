"""Validating the tokens a grant is given to exchange (RFC 8693 subject/actor, RFC 7523 assertion).

A subject token is accepted when it is a JWT signed by an issuer the server
trusts — one of its workload issuers, or the server itself (so exchanges
nest) — carrying an ``aud`` the server accepts, and not expired. Every
failure is ``invalid_grant`` naming the check, never quoting the token.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import jwt

from .._errors import InvalidTokenError
from ._access_tokens import AccessTokens
from ._assertion_claims import check_audience_and_lifetime
from ._oauth_errors import OAuthError, invalid_grant
from ._signing_keys import SIGNING_ALGORITHM
from ._workload_issuer import WorkloadIssuer

__all__ = ["SubjectValidator"]


class SubjectValidator:
    """Checks presented tokens against the issuers the server trusts.

    Args:
        workloads: the workload issuers whose tokens are trusted.
        tokens: the server's own access tokens (trusted as subjects too).
        own_issuer: the server's issuer URL, asked for each request.
        own_urls: the server's own URLs (issuer, token endpoint), asked for each request.
        clock: wall-clock time.

    A workload token's ``aud`` must name one of the server's own URLs, the
    client id, or one of its workload issuer's ``audiences``.
    """

    def __init__(
        self,
        *,
        workloads: Collection[WorkloadIssuer],
        tokens: AccessTokens,
        own_issuer: Callable[[], str],
        own_urls: Callable[[], Collection[str]],
        clock: Callable[[], float],
    ) -> None:
        self._workloads = tuple(workloads)
        self._tokens = tokens
        self._own_issuer = own_issuer
        self._own_urls = own_urls
        self._clock = clock

    def claims(
        self, token: str, *, what: str, client_id: str | None
    ) -> tuple[dict[str, Any], WorkloadIssuer | None]:
        """The verified claims of the presented ``token``, and its workload issuer.

        The issuer is None for one of the server's own access tokens.

        Raises:
            OAuthError: ``invalid_grant`` naming the failed check.
        """
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", f"the {what} is not a JWT") from None
        iss = unverified.get("iss")
        if iss == self._own_issuer():
            return self._own(token, what), None
        workload = next((w for w in self._workloads if iss in w.issuers), None)
        if workload is None:
            raise OAuthError("invalid_grant", f"the {what}'s issuer is not trusted")
        key = workload.keys.public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise OAuthError("invalid_grant", f"the {what} is signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[SIGNING_ALGORITHM],
                # Times are checked below, on the server's clock (which tests move).
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", f"the {what}'s signature does not verify") from None
        accepted = {*self._own_urls(), *workload.audiences, *([client_id] if client_id else [])}
        check_audience_and_lifetime(
            claims,
            accepted,
            self._clock(),
            aud_refusal=f"the {what}'s aud is not accepted here",
            what=what,
            refuse=invalid_grant,
        )
        return claims, workload

    def _own(self, token: str, what: str) -> dict[str, Any]:
        try:
            return dict(self._tokens.verify(token))
        except InvalidTokenError as exc:
            raise OAuthError("invalid_grant", f"the {what} is not valid: {exc}") from None
