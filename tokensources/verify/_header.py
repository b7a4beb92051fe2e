"""Cheap checks on a token before any key or signature work (RFC 7515 §7.1)."""

from __future__ import annotations

import base64
import binascii
import json
import re

from .._errors import InvalidTokenError
from ._tokens import check_token

__all__ = ["read_header"]

# Compact JWS: three base64url parts (the signature may be empty for alg "none",
# which is refused below with a clearer message than a shape error).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A JOSE header is a few dozen bytes; anything much larger is not one we sign.
_MAX_HEADER_CHARS = 2048


def read_header(token: str, algorithms: tuple[str, ...], max_bytes: int) -> tuple[str, str | None]:
    """Check the token's size, shape and header; return its ``alg`` and ``kid``.

    Raises:
        InvalidTokenError: the token is too long or not ASCII (see
            ``check_token``), not a compact JWS, its header is not base64url
            JSON, it is unsigned (``alg: none``), its algorithm is not
            accepted, or it marks a header parameter as critical (RFC 7515
            §4.1.11: we understand no extensions).
    """
    check_token(token, max_bytes)
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidTokenError("the token is not a compact JWS (three base64url parts)")
    encoded = token.partition(".")[0]
    if len(encoded) > _MAX_HEADER_CHARS:
        raise InvalidTokenError("the token header is too large")
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("the token header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise InvalidTokenError("the token header is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise InvalidTokenError("the token header has no algorithm (alg)")
    if alg.lower() == "none":
        raise InvalidTokenError("unsigned tokens (alg none) are refused")
    if alg not in algorithms:
        raise InvalidTokenError(f"the token's algorithm {alg[:16]!r} is not accepted")
    if token.endswith("."):
        raise InvalidTokenError("the token has no signature")
    if "crit" in header:
        raise InvalidTokenError("the token has critical header parameters (crit)")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidTokenError("the token's key id (kid) is not a string")
    return alg, kid
