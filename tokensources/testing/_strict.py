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
3. an assertion ``jti`` is accepted once, ever: outside strict mode a
   ``jti`` may come back once the assertion that carried it has expired
   (RFC 7523 §3 asks for no more), which lets a client that derives its
   ``jti`` from the clock, or reuses one, pass;
4. no client credential travels in the URL: a ``client_secret``,
   ``client_assertion`` or ``client_assertion_type`` in the token request's
   query string is refused (RFC 6749 §2.3.1: "MUST NOT be included in the
   request URI");
5. no token request over plain HTTP behind a proxy: a request whose
   ``X-Forwarded-Proto`` (or RFC 7239 ``Forwarded`` ``proto``) says ``http``
   is refused (RFC 6749 §3.2: the token endpoint requires TLS). The server
   itself speaks plain HTTP on loopback, so the request's own scheme is not
   checked; a proxy in front of it, as in production, tells what the client
   used. The header can only make a request fail, never pass, so a client
   that sends it itself proves nothing but its own refusal.

Strict mode also announces ``expires_in`` exactly as the token lives,
fraction included (``59.5``), where the lenient default rounds it down to
whole seconds for clients that parse it as an integer (RFC 6749 §5.1 only
says "the lifetime in seconds", a JSON number).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from .._source import Clock
from ._access_tokens import numeric
from ._oauth_errors import OAuthError, invalid_client
from ._replay import ReplayCache

__all__ = [
    "ASSERTION_TYP",
    "StrictReplayCache",
    "check_assertion",
    "check_forwarded_scheme",
    "check_query",
    "exact_expires_in",
]

ASSERTION_TYP = "client-authentication+jwt"
_URL_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")
# How many accepted jti values strict mode remembers past their expiry.
REMEMBERED_JTIS = 100_000


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


def check_forwarded_scheme(headers: Mapping[str, str]) -> None:
    """Refuse a token request that a proxy in front received over plain HTTP (RFC 6749 §3.2).

    The first value of ``X-Forwarded-Proto``, or the ``proto`` of the first
    element of ``Forwarded`` (RFC 7239 §4), is the scheme the client used:
    the proxy nearest the client writes it first.

    Raises:
        OAuthError: ``invalid_request`` naming the header.
    """
    for name, scheme in (
        ("X-Forwarded-Proto", _first(headers.get("x-forwarded-proto"))),
        ("Forwarded", _forwarded_proto(headers.get("forwarded"))),
    ):
        if scheme == "http":
            raise OAuthError(
                "invalid_request",
                f"strict mode: the token request was sent over plain http ({name}: http); "
                "the token endpoint requires TLS (RFC 6749 §3.2)",
            )


def _first(value: str | None) -> str | None:
    return value.split(",")[0].strip().lower() if value else None


def _forwarded_proto(value: str | None) -> str | None:
    first = value.split(",")[0] if value else ""
    for pair in first.split(";"):
        name, _, found = pair.strip().partition("=")
        if name.lower() == "proto":
            return found.strip().strip('"').lower()
    return None


def exact_expires_in(payload: dict[str, Any], claims: Mapping[str, Any] | None) -> None:
    """Announce in ``payload`` the token's exact lifetime, ``exp - iat``, fraction included.

    Left as it is when the token's claims have no numeric ``iat`` and ``exp``.
    """
    iat, exp = (claims or {}).get("iat"), (claims or {}).get("exp")
    if isinstance(iat, bool) or isinstance(exp, bool):
        return
    if isinstance(iat, (int, float)) and isinstance(exp, (int, float)):
        # Rounded to microseconds: exp and iat are floats, their difference is not exact.
        payload["expires_in"] = numeric(round(exp - iat, 6))


class StrictReplayCache(ReplayCache):
    """A replay cache that, in strict mode, refuses a ``jti`` seen before even once expired.

    Outside strict mode it is a ``ReplayCache``: a value is refused while
    the JWT that carried it is valid. It also remembers the last
    ``REMEMBERED_JTIS`` values accepted (in any mode), so that in strict
    mode a value comes back refused however long ago it was used.

    Args:
        clock: the issuer's clock.
        leeway: seconds an entry is kept past its expiry.
        strict: whether strict mode is on, asked for each value.
    """

    def __init__(self, clock: Clock, *, leeway: float, strict: Callable[[], bool]) -> None:
        super().__init__(clock, leeway=leeway)
        self._strict = strict
        self._lock = threading.Lock()
        self._ever: OrderedDict[Hashable, None] = OrderedDict()

    def first_use(self, key: Hashable, expires_at: float) -> bool:
        """Remember ``key``; False when it is remembered (in strict mode: ever seen)."""
        with self._lock:
            if self._strict() and key in self._ever:
                return False
            if not super().first_use(key, expires_at):
                return False
            self._ever[key] = None
            if len(self._ever) > REMEMBERED_JTIS:
                self._ever.popitem(last=False)
            return True
