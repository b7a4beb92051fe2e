"""The ``cnf`` (confirmation) claim of verified token claims (RFC 7800 §3.1), read strictly.

One home for both bound-token checks: DPoP (``cnf.jkt``, RFC 9449 §6.1)
and mutual TLS (``cnf.x5t#S256``, RFC 8705 §3.1). A token without ``cnf``,
or whose ``cnf`` has no such member, is not bound that way. A ``cnf`` that
is not a JSON object, or a member that is not a non-empty string, is
malformed: the issuer meant to bind the token and the binding cannot be
read, so the token is refused rather than taken as an unbound bearer
token (failing open would let a token whose binding got mangled be used
by anyone who holds it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import InvalidTokenError

__all__ = ["confirmation"]


def confirmation(claims: Mapping[str, Any], member: str) -> str | None:
    """The ``cnf.<member>`` of verified claims, or None when the token is not bound that way.

    Args:
        claims: the token's verified claims.
        member: the confirmation method, such as ``"jkt"`` or ``"x5t#S256"``.

    Raises:
        InvalidTokenError: ``cnf`` is present but not an object, or
            ``cnf.<member>`` is present but not a non-empty string (the
            message names the claim, never its value).
    """
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, Mapping):
        raise InvalidTokenError("the token's cnf claim is not a JSON object")
    if member not in cnf:
        return None
    value = cnf[member]
    if not isinstance(value, str) or not value:
        raise InvalidTokenError(f"the token's cnf.{member} claim is not a non-empty string")
    return value
