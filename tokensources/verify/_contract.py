"""What every verifier offers: the one method ``BearerAuth`` and ``authenticate`` call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ._claims import Claims

__all__ = ["Verifier"]


class Verifier(Protocol):
    """Anything that turns a bearer token into verified ``Claims``, or refuses it.

    ``JWTVerifier`` (signed JWTs, checked locally) and ``Introspection``
    (any token, asked of the authorization server, RFC 7662) are two; a
    verifier of your own works with ``BearerAuth`` and ``authenticate`` if
    it keeps the same contract:

    - return ``Claims`` only for a token that passed every check, and only
      if it grants every scope in ``scopes``;
    - raise ``InvalidTokenError`` for a token that is not acceptable
      (answered 401), ``InsufficientScopeError`` for a missing scope (403);
    - raise another ``TokenSourceError`` when it cannot decide — keys or
      introspection endpoint unreachable (answered 503): never accept a
      token it could not check.
    """

    async def verify(self, token: str, *, scopes: Iterable[str] | str = ()) -> Claims:
        """Verify ``token``; with ``scopes``, require them too.

        Raises:
            InvalidTokenError: the token is not acceptable.
            InsufficientScopeError: the token is valid but lacks a scope.
            TokenSourceError: the verifier could not decide.
        """
        ...
