"""What every grant shares: the ``Grant`` protocol, scope and audience policy, the answer.

A grant receives an authenticated client and its parsed request and returns
the RFC 6749 §5.1 answer. Each grant type is one class in its own module
(``_client_credentials``), registered with the token endpoint under its
``grant_type``; the policy below is the same for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from ._clients import RegisteredClient
from ._oauth_errors import OAuthError
from ._token_request import TokenRequest

__all__ = ["Grant", "expires_in", "granted_audience", "granted_scopes", "token_response"]


class Grant(Protocol):
    """One grant type of the token endpoint."""

    @property
    def grant_type(self) -> str:
        """The ``grant_type`` value that selects it (RFC 6749 §4, or an absolute URI)."""
        ...

    def issue(self, request: TokenRequest, client: RegisteredClient) -> dict[str, Any]:
        """The successful token answer's fields for ``client``'s ``request``.

        Raises:
            OAuthError: the request cannot be granted (``invalid_scope``,
                ``invalid_target``, ``invalid_grant``, …).
        """
        ...


def granted_scopes(client: RegisteredClient, requested: str | None) -> tuple[str, ...]:
    """The scopes to grant ``client`` for a ``scope`` parameter (None when absent).

    Raises:
        OAuthError: ``invalid_scope`` naming the first scope the client may not have.
    """
    if requested is None:  # RFC 6749 §3.3: the server may apply a default scope
        return client.scopes
    # RFC 6749 §3.3: space-delimited, order does not matter; keep the caller's order.
    wanted = tuple(scope for scope in dict.fromkeys(requested.split(" ")) if scope)
    refused = [scope for scope in wanted if scope not in client.scopes]
    if refused:
        raise OAuthError("invalid_scope", f"scope {refused[0]!r} is not allowed for this client")
    return wanted or client.scopes


def granted_audience(
    client: RegisteredClient, audience: str | None, resources: Sequence[str], *, default: str
) -> str | list[str]:
    """The ``aud`` of the token: the ``audience`` and ``resource`` values asked for.

    Without either it is the client's first allowed audience, or ``default``
    (the issuer's audience) for a client with none of its own.

    Raises:
        OAuthError: ``invalid_target`` (RFC 8707 §2) naming the first value
            the client may not ask for.
    """
    allowed = client.audiences or (default,)
    wanted = list(dict.fromkeys([*([audience] if audience else []), *resources]))
    if not wanted:
        return allowed[0]
    refused = [value for value in wanted if value not in allowed]
    if refused:
        raise OAuthError(
            "invalid_target", f"audience {refused[0]!r} is not allowed for this client"
        )
    return wanted[0] if len(wanted) == 1 else wanted


def expires_in(lifetime: float) -> int:
    """The ``expires_in`` to announce for a token living ``lifetime`` seconds.

    RFC 6749 §5.1 makes ``expires_in`` a number of seconds, and clients parse
    it as an integer (golang.org/x/oauth2 refuses ``12.5``), so it is whole:
    rounded down, so the announced life never outlasts the token. A positive
    lifetime under a second is announced as 1, not 0: many clients
    (golang.org/x/oauth2, tokensources) read 0 as "no expiry given". The
    token's own ``exp`` stays exact, so such a token is still refused after
    its real lifetime. A lifetime that is not positive is announced rounded
    down as it is, for tests of clients that meet nonsense.
    """
    whole = math.floor(lifetime)
    return max(whole, 1) if lifetime > 0 else whole


def token_response(access_token: str, lifetime: float, scopes: Sequence[str]) -> dict[str, Any]:
    """The fields of a successful bearer token answer (RFC 6749 §5.1)."""
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in(lifetime),
        "scope": " ".join(scopes),
    }
