"""The signature and claim checks of one token, once its key is known (pure, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from .._errors import InvalidTokenError
from .._jose import verify_signature
from ._jwk import VerificationKey

__all__ = ["ClaimRules", "decode_claims"]

# Why pyjwt refused a token, in words that name the check and nothing else.
_PYJWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "the signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
    (jwt.DecodeError, "the token is malformed"),
)


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What the claims of an accepted token must say.

    Attributes:
        issuer: the exact ``iss``.
        audience: the accepted audiences; ``aud`` must contain one.
        required: claims that must be present and not null.
        leeway: seconds of clock skew forgiven on ``exp``, ``nbf``, ``iat``.
    """

    issuer: str
    audience: tuple[str, ...]
    required: tuple[str, ...]
    leeway: float


def decode_claims(
    token: str, key: VerificationKey, alg: str, rules: ClaimRules, now: float
) -> dict[str, Any]:
    """Check the signature of ``token`` with ``key`` and its claims at ``now``; return them.

    Raises:
        InvalidTokenError: the signature does not verify or a claim check
            fails; the message names the check and never holds the token.
    """
    try:
        payload = verify_signature(token, key.key, alg)
    except ValueError:
        # The key was chosen because it fits; this is the belt to those braces.
        raise InvalidTokenError("the issuer's key does not fit the token's algorithm") from None
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(_reason(exc)) from None
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidTokenError("the token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("the token's payload is not a JSON object")
    for name in rules.required:
        # A null claim says nothing, as an absent one.
        if claims.get(name) is None:
            raise InvalidTokenError(f"the token has no {name[:32]!r} claim")
    _check_issuer(claims, rules.issuer)
    _check_audience(claims, rules.audience)
    # RFC 7519 §4.1.2 and §4.1.7: sub and jti are strings when present.
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidTokenError(f"the token's {name!r} claim is not a string")
    _check_times(claims, now, rules.leeway)
    return claims


def _check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    # RFC 7519 §4.1.1: a case-sensitive string, compared exactly.
    if claims["iss"] != issuer:
        raise InvalidTokenError("the token is from another issuer (iss)")


def _check_audience(claims: Mapping[str, Any], audience: tuple[str, ...]) -> None:
    # RFC 7519 §4.1.3: one string, or an array of strings.
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidTokenError("the token's audience (aud) is not a string or a list of strings")
    if not set(values).intersection(audience):
        raise InvalidTokenError("the token is for another audience (aud)")


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    times = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidTokenError(f"the token's {name!r} claim is not a number")
        times[name] = float(value)
    # RFC 7519 §4.1.4: the token must not be accepted on or after exp.
    if now >= times["exp"] + leeway:
        raise InvalidTokenError("the token has expired (exp)")
    # RFC 7519 §4.1.5: nor before nbf.
    if "nbf" in times and now + leeway < times["nbf"]:
        raise InvalidTokenError("the token is not valid yet (nbf)")
    if "iat" in times and now + leeway < times["iat"]:
        raise InvalidTokenError("the token was issued in the future (iat)")


def _reason(exc: Exception) -> str:
    for kind, reason in _PYJWT_REASONS:
        if isinstance(exc, kind):
            return reason
    return f"the token was refused ({type(exc).__name__})"
