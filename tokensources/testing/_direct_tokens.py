"""Tokens signed on request of a test or a person, without a token request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._access_tokens import AccessTokens
from ._clients import ClientRegistry
from ._issuer import Issuer

__all__ = ["issue_direct"]


def issue_direct(
    issuer: Issuer,
    clients: ClientRegistry,
    tokens: AccessTokens,
    client_id: str,
    *,
    scope: str | Iterable[str] | None = None,
    lifetime: float | None = None,
    audience: str | list[str] | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """Sign an access token for ``client_id`` as the issuer would, with the defaults filled in.

    ``scope`` None gives the registered client's scopes (none for an
    unknown client); ``lifetime`` None the client's or the issuer's;
    ``audience`` None the issuer's. ``claims`` are added last, as they are.
    """
    client = clients.get(client_id)
    if scope is None:
        scope = client.scopes if client is not None else ()
    scope_text = scope if isinstance(scope, str) else " ".join(scope)
    if lifetime is None:
        default = issuer.token_lifetime
        lifetime = client.lifetime_or(default) if client is not None else default
    return tokens.mint(client_id, scope_text, audience or issuer.audience, lifetime, extra=claims)
