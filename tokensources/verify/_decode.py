"""The signature and claim checks of one token, once its key is known (pure, no I/O)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from .._errors import InvalidTokenError
from .._jose import verify_signature
from ._jwk import VerificationKey

__all__ = [
    "ClaimRules",
    "check_audience",
    "check_issuer",
    "check_string_claims",
    "check_times",
    "decode_claims",
    "valid_window",
]

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
    check_required(claims, rules.required)
    check_issuer(claims, rules.issuer)
    check_audience(claims, rules.audience)
    check_string_claims(claims)
    check_times(claims, now, rules.leeway)
    return claims


def check_required(claims: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Every claim in ``required`` is present and not null.

    Raises:
        InvalidTokenError: one is missing.
    """
    for name in required:
        # A null claim says nothing, as an absent one.
        if claims.get(name) is None:
            raise InvalidTokenError(f"the token has no {name[:32]!r} claim")


def check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    """``iss`` is exactly ``issuer``.

    Raises:
        InvalidTokenError: it is not.
    """
    # RFC 7519 §4.1.1: a case-sensitive string, compared exactly.
    if claims.get("iss") != issuer:
        raise InvalidTokenError("the token is from another issuer (iss)")


def check_audience(claims: Mapping[str, Any], audience: tuple[str, ...]) -> None:
    """``aud`` names one of ``audience``.

    Raises:
        InvalidTokenError: it is absent, malformed or names none of them.
    """
    # RFC 7519 §4.1.3: one string, or an array of strings.
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise InvalidTokenError("the token's audience (aud) is not a string or a list of strings")
    if not set(values).intersection(audience):
        raise InvalidTokenError("the token is for another audience (aud)")


def check_string_claims(claims: Mapping[str, Any]) -> None:
    """``sub`` and ``jti`` are strings when present (RFC 7519 §4.1.2 and §4.1.7).

    Raises:
        InvalidTokenError: one is not.
    """
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidTokenError(f"the token's {name!r} claim is not a string")


def _times(claims: Mapping[str, Any]) -> dict[str, float]:
    times = {}
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        # Python's JSON reads NaN and Infinity, which compare as "never expired".
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise InvalidTokenError(f"the token's {name!r} claim is not a number")
        times[name] = float(value)
    return times


def check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """``exp`` is ahead of ``now``, ``nbf`` and ``iat`` are not, each with ``leeway``.

    Claims that are absent are not checked (``exp`` is required by the rules
    of a JWT, not here).

    Raises:
        InvalidTokenError: a time claim is not a number, or a check fails.
    """
    times = _times(claims)
    # RFC 7519 §4.1.4: the token must not be accepted on or after exp.
    if "exp" in times and now >= times["exp"] + leeway:
        raise InvalidTokenError("the token has expired (exp)")
    # RFC 7519 §4.1.5: nor before nbf.
    if "nbf" in times and now + leeway < times["nbf"]:
        raise InvalidTokenError("the token is not valid yet (nbf)")
    if "iat" in times and now + leeway < times["iat"]:
        raise InvalidTokenError("the token was issued in the future (iat)")


def valid_window(claims: Mapping[str, Any], leeway: float) -> tuple[float, float]:
    """The instants between which ``check_times`` accepts these claims: ``[start, end)``.

    A cached verification result is served only while the clock is in this
    window, so the cache never accepts a token the checks would refuse.
    ``-inf`` and ``inf`` for claims that are absent; the claims must have
    passed ``check_times``.
    """
    times = _times(claims)
    end = times["exp"] + leeway if "exp" in times else math.inf
    start = max(times.get("nbf", -math.inf), times.get("iat", -math.inf)) - leeway
    return start, end


def _reason(exc: Exception) -> str:
    for kind, reason in _PYJWT_REASONS:
        if isinstance(exc, kind):
            return reason
    return f"the token was refused ({type(exc).__name__})"
