"""SignedAssertion: a JWT the workload signs itself (Google service accounts, custom federation)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from .._identity import credential_digest, identity_digest
from .._source import Clock
from .._token import Token
from ._assertion import (
    assertion_claims,
    check_assertion_audience,
    check_assertion_headers,
    check_assertion_lifetime,
)
from ._signing_keys import KeyInput, load_signing_key

__all__ = ["SignedAssertion"]

# Claims the source sets itself; `claims=` adding them would make the
# assertion say something its arguments do not.
_RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})


class SignedAssertion:
    """A token source whose tokens are JWTs signed with your private key.

    Each ``token()`` signs a new assertion: ``iss`` = ``issuer``, ``sub`` =
    ``subject``, ``aud`` = ``audience``, a fresh random ``jti``, ``iat`` and
    ``nbf`` a few seconds in the past (for clock skew), ``exp``
    ``lifetime`` seconds ahead, plus your ``claims`` (Google's ``scope``,
    say). Its ``expires_at`` is that ``exp``. Hand it to ``JWTBearer`` (the
    RFC 7523 grant: Google service accounts), to ``TokenExchange`` as the
    subject, or to any API that takes a self-signed JWT.

    Args:
        private_key: PEM (bytes or str, optionally encrypted), a
            ``cryptography`` private key object, or a private JWK.
        issuer: the ``iss`` claim (a service account's email, a client id).
        subject: the ``sub`` claim.
        audience: the ``aud`` claim: a string or a list of strings.
        claims: further claims; the ones above may not be set here.
        lifetime: seconds from issue to ``exp`` (default 60; at most 3600).
        algorithm: RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA; by
            default the JWK's ``alg`` or what the key implies.
        key_id: the ``kid`` header; by default a JWK's own ``kid``.
        key_password: the password of an encrypted PEM key.
        headers: extra JWS header members (``typ``, ``x5t#S256``, ...).
        clock: wall-clock time, for the timestamps.

    Raises:
        ConfigError: an argument is not acceptable (a key that cannot sign
            with the algorithm, an empty issuer, a reserved claim); the
            message never contains key material.
    """

    def __init__(
        self,
        private_key: KeyInput,
        *,
        issuer: str,
        subject: str,
        audience: str | Sequence[str],
        claims: Mapping[str, Any] | None = None,
        lifetime: float = 60.0,
        algorithm: str | None = None,
        key_id: str | None = None,
        key_password: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.key = load_signing_key(
            private_key, algorithm=algorithm, key_id=key_id, password=key_password
        )
        self.issuer = _non_empty("issuer", issuer)
        self.subject = _non_empty("subject", subject)
        checked = check_assertion_audience(audience)
        if checked is None:
            raise ConfigError("audience must be a non-empty string or list of strings")
        self.audience: str | list[str] = checked
        self.claims: Mapping[str, Any] = MappingProxyType(_extra_claims(claims))
        self.lifetime = check_assertion_lifetime(lifetime)
        self.headers: Mapping[str, str] = MappingProxyType(check_assertion_headers(headers))
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"SignedAssertion(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"audience={self.audience!r}, key={self.key!r})"
        )

    async def token(self) -> Token:
        """A newly signed assertion, with a fresh ``jti``.

        Concurrency and cancellation: no I/O and no waiting; safe everywhere.
        """
        claims = assertion_claims(self.issuer, self.audience, self.lifetime, self._clock())
        claims["sub"] = self.subject
        claims.update(self.claims)
        return Token(self.key.sign(claims, self.headers), expires_at=float(claims["exp"]))

    def invalidate(self, token: Token) -> None:
        """Do nothing: every call signs a new assertion anyway."""

    @property
    def cache_identity(self) -> str:
        """A digest of the assertion's issuer, subject, audience and claims and the public key.

        Two sources with equal identities sign interchangeable assertions.
        """
        return identity_digest(
            {
                "signed_assertion": {
                    "iss": self.issuer,
                    "sub": self.subject,
                    "aud": self.audience,
                    "claims": dict(self.claims),
                    "key": credential_digest(
                        "signed_assertion", self.key.thumbprint, self.key.algorithm
                    ),
                }
            }
        )

    def subject_claims(self) -> dict[str, str]:
        """The ``iss`` and ``sub`` of the assertions, for shared-cache identities."""
        return {"iss": self.issuer, "sub": self.subject}

    def public_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set holding the public key, for registering with the verifier."""
        return {"keys": [self.key.jwk()]}


def _non_empty(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string")
    return value


def _extra_claims(claims: Mapping[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in (claims or {}).items():
        if not isinstance(name, str) or not name:
            raise ConfigError("claims must map non-empty strings to values")
        if name in _RESERVED_CLAIMS:
            raise ConfigError(f"claims may not set {name!r}: it is set from the arguments")
        result[name] = value
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        raise ConfigError(
            "claims must be JSON values (str, number, bool, None, list, dict)"
        ) from None
    return result
