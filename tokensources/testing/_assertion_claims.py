"""The claim checks every client assertion passes, a client's own or a federated one."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ._oauth_errors import invalid_client

__all__ = ["LEEWAY", "check_audience_and_lifetime"]

# Seconds of clock skew forgiven on an assertion's exp and nbf.
LEEWAY = 5.0


def check_audience_and_lifetime(
    claims: Mapping[str, Any],
    accepted: Collection[str],
    now: float,
    *,
    aud_refusal: str,
    max_lifetime: float | None = None,
) -> float:
    """``aud`` names one of ``accepted``, and ``now`` is within ``exp``/``nbf``; return ``exp``.

    Args:
        claims: the assertion's claims.
        accepted: the audiences it may name.
        now: the server's time.
        aud_refusal: the message when ``aud`` names none of them.
        max_lifetime: when given, how far in the future ``exp`` may be.

    Raises:
        OAuthError: ``invalid_client`` naming the failed check.
    """
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(value, str) and value in accepted for value in aud_values):
        raise invalid_client(aud_refusal)
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise invalid_client("the assertion has no numeric exp")
    if exp <= now - LEEWAY:
        raise invalid_client("the assertion has expired")
    if max_lifetime is not None and exp > now + max_lifetime + LEEWAY:
        raise invalid_client("the assertion's exp is too far in the future")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > now + LEEWAY:
        raise invalid_client("the assertion is not valid yet (nbf)")
    return float(exp)
