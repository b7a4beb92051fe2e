"""The claim checks of every JWT a client presents: its assertions and its subject tokens."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ._oauth_errors import OAuthError, invalid_client

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
    what: str = "assertion",
    refuse: Callable[[str], OAuthError] = invalid_client,
) -> float:
    """``aud`` names one of ``accepted``, and ``now`` is within ``exp``/``nbf``; return ``exp``.

    Args:
        claims: the assertion's claims.
        accepted: the audiences it may name.
        now: the server's time.
        aud_refusal: the message when ``aud`` names none of them.
        max_lifetime: when given, how far in the future ``exp`` may be.
        what: what the JWT is, in the messages ("assertion", "subject_token").
        refuse: makes the error for a failed check (``invalid_client`` for
            client authentication, ``invalid_grant`` for a grant's JWT).

    Raises:
        OAuthError: from ``refuse``, naming the failed check.
    """
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(value, str) and value in accepted for value in aud_values):
        raise refuse(aud_refusal)
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        raise refuse(f"the {what} has no numeric exp")
    if exp <= now - LEEWAY:
        raise refuse(f"the {what} has expired")
    if max_lifetime is not None and exp > now + max_lifetime + LEEWAY:
        raise refuse(f"the {what}'s exp is too far in the future")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and nbf > now + LEEWAY:
        raise refuse(f"the {what} is not valid yet (nbf)")
    return float(exp)
