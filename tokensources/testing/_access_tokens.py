"""The access tokens one issuer signs (RFC 9068 JWTs), and the check its API makes of them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from ..verify import Claims, JWTVerifier
from ._issuer import Issuer
from ._signing_keys import SigningKeys

__all__ = ["AccessTokens", "numeric"]


def numeric(value: float) -> int | float:
    """``value`` as an int when it is whole (so JSON shows ``3600``, not ``3600.0``)."""
    return int(value) if float(value).is_integer() else value


class AccessTokens:
    """Signs access tokens for an issuer and verifies them as its demo API does.

    Tokens are signed with the issuer's current key and carry ``iss``,
    ``sub`` and ``client_id`` (the client), ``aud``, ``scope``, ``iat``,
    ``exp`` (exact, fractional when the lifetime is) and a fresh ``jti``.

    Verification is ``tokensources.verify.JWTVerifier`` over the published
    keys: the signature, ``iss``, ``aud`` (the issuer's audience), ``sub``
    present, and ``exp``, ``nbf``, ``iat`` by the issuer's clock, with no
    leeway. The verifier is rebuilt when the issuer URL or audience change.

    Args:
        keys: the issuer's signing keys.
        issuer: the issuer the tokens speak for.
    """

    def __init__(self, keys: SigningKeys, issuer: Issuer) -> None:
        self._keys = keys
        self._issuer = issuer
        self._verifier: tuple[tuple[str, str], JWTVerifier] | None = None

    def mint(
        self,
        client_id: str,
        scope: str,
        audience: str | list[str],
        lifetime: float,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token for ``client_id`` living ``lifetime`` seconds from now.

        ``extra`` claims are added last, so they override the standard ones.
        """
        now = self._issuer.now()
        claims: dict[str, Any] = {
            "iss": self._issuer.url,
            "sub": client_id,
            "aud": audience,
            "scope": scope,
            "client_id": client_id,
            "iat": numeric(now),
            "exp": numeric(now + lifetime),
            "jti": secrets.token_urlsafe(16),
        }
        if extra:
            claims |= extra
        return self._keys.sign(claims)

    def bind(self, token: str, jkt: str) -> str:
        """``token`` (one this issuer just minted) signed again with ``cnf.jkt`` (RFC 9449 §6.1)."""
        claims = jwt.decode(token, options={"verify_signature": False})
        claims["cnf"] = {"jkt": jkt}
        return self._keys.sign(claims)

    def verify(self, token: str, *, scopes: Iterable[str] = ()) -> Claims:
        """The verified claims of ``token``; with ``scopes``, require them too.

        Safe from any thread; makes no I/O.

        Raises:
            InvalidTokenError: the token is not acceptable (the message never
                contains it).
            InsufficientScopeError: the token is valid but lacks a scope.
        """
        return self._current_verifier().verify_sync(token, scopes=tuple(scopes))

    def _current_verifier(self) -> JWTVerifier:
        settings = (self._issuer.url, self._issuer.audience)
        cached = self._verifier
        if cached is not None and cached[0] == settings:
            return cached[1]
        verifier = JWTVerifier(
            settings[0],
            settings[1],
            jwks=self._keys.jwks_bytes,  # the same bytes object until the keys change
            leeway=0,
            required_claims=("sub",),
            clock=self._issuer.now,  # follows a clock replaced on the server
        )
        self._verifier = (settings, verifier)
        return verifier
