"""Reading a JWT someone else issued, without verifying it (pure, no I/O).

Workload tokens (a Kubernetes service-account token, a GitHub Actions ID
token, a SPIFFE JWT-SVID) are verified by the server they are presented to;
the client reads their claims only to know when they expire and whose they
are (the ``iss`` and ``sub`` that key a shared cache). Nothing here is a
security check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import jwt

__all__ = ["claims_expiry", "jwt_shape", "naming_claims", "unverified_claims"]

# RFC 7515 §7.1: three base64url parts joined by dots (JWS compact form).
_COMPLETE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# What a JWT looks like while it is still being written: its start, cut anywhere.
_PREFIX = re.compile(r"eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*){0,2}")


def jwt_shape(text: str) -> str:
    """Whether ``text`` is a JWT: ``"complete"``, ``"prefix"`` (cut short) or ``"other"``.

    A JWT header is JSON starting with ``{"``, so every JWT starts with
    ``eyJ``; text that starts so and holds only base64url characters and at
    most two dots, but is not a whole JWT, is one still being written.
    """
    if _COMPLETE.fullmatch(text) and unverified_claims(text) is not None:
        return "complete"
    if _PREFIX.fullmatch(text):
        return "prefix"
    return "other"


def unverified_claims(text: str) -> dict[str, Any] | None:
    """The claims of the JWT ``text``, without verifying its signature; None if it is not one."""
    try:
        claims = jwt.decode(text, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims, dict) else None


def claims_expiry(claims: Mapping[str, Any]) -> float | None:
    """The ``exp`` of ``claims`` in epoch seconds, or None when it is absent or not a number."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        return None
    return float(exp)


def naming_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """The claims that say whose token it is (``iss`` and ``sub``), as strings.

    Shared caches key exchanged tokens by them: the replicas of one workload
    carry equal ones, two workloads never do.
    """
    return {name: str(claims.get(name, "")) for name in ("iss", "sub")}
