"""Strict mode: refuse the legacy client behaviours that tomorrow's servers will refuse.

RFC 7523 let a client assertion's ``aud`` be the token endpoint URL, or a
list of anything that identifies the server; CVE-2025-27370 (a server that
names another server's token endpoint as its own collects assertions valid
at that other server) led to draft-ietf-oauth-rfc7523bis, which requires "the issuer identifier
[RFC 8414] of the authorization server as its sole value" and defines the
``client-authentication+jwt`` type for explicit typing (RFC 8725 §3.11).
Servers are moving there one by one. In strict mode the testing server
already is, so a client can be tested against them today.

The checks, each refused with ``invalid_client`` (or ``invalid_request``)
naming the rule:

1. a client assertion's ``aud`` is the issuer identifier and nothing else
   (a string, or a list of that one string); the token endpoint URL is
   refused;
2. a client assertion's ``typ`` header is ``client-authentication+jwt``
   (``application/client-authentication+jwt`` too, RFC 7515 §4.1.9);
3. no client credential travels in the URL: a ``client_secret``,
   ``client_assertion`` or ``client_assertion_type`` in the token request's
   query string is refused (RFC 6749 §2.3.1: "MUST NOT be included in the
   request URI").

A reused assertion ``jti`` is refused in every mode (RFC 7523 §3).

Deliberately not checked: whether the token request came over HTTPS. The
testing server speaks plain HTTP on loopback, and the only evidence of the
client's own scheme behind a proxy would be ``X-Forwarded-Proto``, a header
the client itself chooses: a check on it would prove nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ._oauth_errors import OAuthError, invalid_client

__all__ = ["ASSERTION_TYP", "check_assertion", "check_query"]

ASSERTION_TYP = "client-authentication+jwt"
_URL_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")


def check_assertion(header: Mapping[str, Any], claims: Mapping[str, Any], issuer: str) -> None:
    """Refuse a (verified) client assertion that a strict server would refuse.

    Raises:
        OAuthError: ``invalid_client`` naming the rule broken (never a value
            of the assertion but its ``typ`` and ``aud``, which are not secret).
    """
    aud = claims.get("aud")
    if aud not in (issuer, [issuer]):
        raise invalid_client(
            f"strict mode: the assertion's aud must be the issuer identifier {issuer!r} "
            "as its sole value, not the token endpoint or a list (draft-ietf-oauth-rfc7523bis)"
        )
    typ = header.get("typ")
    normalised = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
    if normalised != ASSERTION_TYP:
        raise invalid_client(
            f"strict mode: the assertion's typ header must be {ASSERTION_TYP!r}, "
            f"got {typ!r} (draft-ietf-oauth-rfc7523bis, RFC 8725 §3.11)"
        )


def check_query(query: str) -> None:
    """Refuse a token request whose URL carries a client credential (RFC 6749 §2.3.1).

    Raises:
        OAuthError: ``invalid_request`` naming the parameter, never its value.
    """
    if not query:
        return
    names = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    found = [name for name in _URL_CREDENTIALS if name in names]
    if found:
        raise OAuthError(
            "invalid_request",
            f"strict mode: {found[0]} must be sent in the request body, never in the URL "
            "(RFC 6749 §2.3.1)",
        )
