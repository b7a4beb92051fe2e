"""JWT client assertions (RFC 7523 §2.2, §3): their claims and the checks of their settings.

Shared by every client authentication that sends a ``client_assertion``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import ConfigError

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "IAT_BACKDATE",
    "MAX_ASSERTION_LIFETIME",
    "assertion_claims",
    "check_assertion_audience",
    "check_assertion_headers",
    "check_assertion_lifetime",
]

# RFC 7523 §2.2: the client_assertion_type of a JWT client assertion.
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Seconds by which iat (and nbf) are set in the past, so that a server whose
# clock is slightly behind ours does not see an assertion "issued in the future".
IAT_BACKDATE = 5
# Providers cap assertion lifetimes (Okta: one hour); a longer-lived assertion
# is a longer-lived credential if it leaks.
MAX_ASSERTION_LIFETIME = 3600.0


def assertion_claims(
    client_id: str, audience: str | list[str], lifetime: float, now: float
) -> dict[str, Any]:
    """The claims of a new client assertion, with a fresh ``jti`` (RFC 7523 §3).

    NumericDates are whole seconds: ``iat`` and ``nbf`` a few seconds
    before ``now``, ``exp`` ``lifetime`` seconds after it.
    """
    issued = math.floor(now) - IAT_BACKDATE
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        # RFC 7523 §3 item 7: a unique identifier, so the server can refuse replays.
        "jti": secrets.token_urlsafe(24),
        "iat": issued,
        "nbf": issued,
        "exp": math.ceil(now + lifetime),
    }


def check_assertion_audience(value: str | Sequence[str] | None) -> str | list[str] | None:
    """``assertion_audience`` checked: a string, a list of strings, or None (the token URL).

    Raises:
        ConfigError: an empty string, an empty list, or not strings.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            raise ConfigError("assertion_audience must be a non-empty string or list of strings")
        return value
    audiences = list(value) if isinstance(value, Sequence) else None
    if not audiences or not all(isinstance(a, str) and a for a in audiences):
        raise ConfigError("assertion_audience must be a non-empty string or list of strings")
    return audiences


def check_assertion_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``assertion_headers`` checked: extra JWS header members, never ``alg`` or ``kid``.

    Raises:
        ConfigError: a name or value that is not a string, or ``alg``/``kid``.
    """
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise ConfigError("assertion_headers must map non-empty strings to strings")
        if name in ("alg", "kid"):
            hint = "algorithm=" if name == "alg" else "key_id="
            raise ConfigError(f"assertion_headers may not set {name!r}: use {hint}")
        result[name] = value
    return result


def check_assertion_lifetime(value: float) -> float:
    """``assertion_lifetime`` checked: finite seconds from 1 to ``MAX_ASSERTION_LIFETIME``.

    Raises:
        ConfigError: anything else.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 1 <= value <= MAX_ASSERTION_LIFETIME
    ):
        raise ConfigError(
            f"assertion_lifetime must be between 1 and {MAX_ASSERTION_LIFETIME:.0f} seconds"
        )
    return float(value)
