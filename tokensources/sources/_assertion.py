"""JWT client assertions (RFC 7523 §2.2, §3): their claims and the checks of their settings.

Shared by every client authentication that signs its own ``client_assertion``
(``private_key_jwt``, ``client_secret_jwt``). The settings follow RFC 7523
and its successor draft, written after CVE-2025-27370 and CVE-2025-27371
(an assertion whose ``aud`` names an endpoint other than the token endpoint
could be replayed there): ``aud`` is the token URL by default (the widest
support), the issuer on request (``"issuer"``, which the draft requires), or
any string or list; ``typ`` may be set to ``client-authentication+jwt``,
the explicit type the draft defines.
"""

from __future__ import annotations

import abc
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from .._source import Clock
from ._client_auth import ClientAuth, Credentials, check_client_id

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_AUTHENTICATION_TYP",
    "IAT_BACKDATE",
    "ISSUER_AUDIENCE",
    "MAX_ASSERTION_LIFETIME",
    "AssertionSettings",
    "SignedAssertionAuth",
    "assertion_claims",
    "assertion_settings",
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
# The assertion_audience value that stands for the authorization server's
# issuer identifier (RFC 7523bis §4: the aud of a client assertion).
ISSUER_AUDIENCE = "issuer"
# RFC 7523bis §5: the explicit type of a client authentication assertion.
CLIENT_AUTHENTICATION_TYP = "client-authentication+jwt"


@dataclass(frozen=True, slots=True)
class AssertionSettings:
    """The checked settings of a signed client assertion.

    Attributes:
        audience: the ``aud``, or None for the token URL of each request.
        lifetime: seconds from issue to ``exp``.
        headers: the extra JWS header members (``typ`` included when set).
    """

    audience: str | list[str] | None
    lifetime: float
    headers: Mapping[str, str]


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


def assertion_settings(
    *,
    audience: str | Sequence[str] | None,
    lifetime: float,
    headers: Mapping[str, str] | None,
    typ: str | None,
    issuer: str | None,
) -> AssertionSettings:
    """The settings of ``PrivateKeyJWT`` and ``ClientSecretJWT`` assertions, checked.

    ``"issuer"`` in ``audience`` (alone or in a list) is replaced by
    ``issuer``; ``typ`` becomes the ``typ`` header.

    Raises:
        ConfigError: a setting is not acceptable, ``"issuer"`` is asked for
            while the issuer is unknown, or ``typ`` is given twice.
    """
    checked = check_assertion_audience(audience)
    if issuer is not None and (not isinstance(issuer, str) or not issuer):
        raise ConfigError("issuer must be a non-empty string (the issuer identifier)")
    header = check_assertion_headers(headers)
    if typ is not None:
        if not isinstance(typ, str) or not typ or any(c.isspace() for c in typ):
            raise ConfigError(
                f"assertion_typ must be a non-empty string such as {CLIENT_AUTHENTICATION_TYP!r}"
            )
        if header.get("typ", typ) != typ:
            raise ConfigError("typ is given both as assertion_typ= and in assertion_headers")
        header["typ"] = typ
    return AssertionSettings(
        audience=_with_issuer(checked, issuer),
        lifetime=check_assertion_lifetime(lifetime),
        headers=MappingProxyType(header),
    )


def _with_issuer(audience: str | list[str] | None, issuer: str | None) -> str | list[str] | None:
    """``audience`` with ``"issuer"`` replaced by the issuer identifier."""
    values = [audience] if isinstance(audience, str) else audience or []
    if ISSUER_AUDIENCE not in values:
        return audience
    if issuer is None:
        raise ConfigError(
            'assertion_audience="issuer" needs the issuer identifier: build the source with '
            "from_issuer(), or pass issuer="
        )
    replaced = [issuer if value == ISSUER_AUDIENCE else value for value in values]
    return replaced[0] if isinstance(audience, str) else list(dict.fromkeys(replaced))


class SignedAssertionAuth(ClientAuth):
    """A client authentication that signs its own JWT assertion (RFC 7523 §2.2).

    Each request carries a new assertion (``iss`` = ``sub`` = the client id,
    a fresh ``jti``), so none is ever replayed; how it is signed (a private
    key, the client secret) is the subclass's ``sign``.
    """

    __slots__ = ("_clock", "settings")

    client_id: str

    def __init__(self, client_id: str, settings: AssertionSettings, *, clock: Clock) -> None:
        super().__init__(check_client_id(client_id))
        self.settings = settings
        self._clock = clock

    @property
    def audience(self) -> str | list[str] | None:
        """The assertions' ``aud``, or None for the token URL of each request."""
        return self.settings.audience

    @property
    def lifetime(self) -> float:
        """Seconds from an assertion's issue to its ``exp``."""
        return self.settings.lifetime

    @property
    def headers(self) -> Mapping[str, str]:
        """The extra JWS header members of every assertion (read-only)."""
        return self.settings.headers

    def claims(self, token_url: str) -> dict[str, Any]:
        """The claims of a new assertion for ``token_url``, with a fresh ``jti``."""
        audience = self.audience if self.audience is not None else token_url
        return assertion_claims(self.client_id, audience, self.lifetime, self._clock())

    @abc.abstractmethod
    def sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of ``claims``, with ``headers`` in its header."""

    async def credentials(self, token_url: str) -> Credentials:
        """``client_id``, ``client_assertion_type`` and a freshly signed ``client_assertion``."""
        assertion = self.sign(self.claims(token_url))
        form = {
            # RFC 7521 §4.2: client_id is optional with an assertion, but some
            # providers (Entra ID) require it, and it must match the assertion.
            "client_id": self.client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        # The signature alone is what cannot be forged: masked on its own too.
        return Credentials(form=form, secrets=(assertion, assertion.rsplit(".", 1)[-1]))
