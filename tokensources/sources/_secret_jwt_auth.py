"""``client_secret_jwt`` client authentication: a fresh assertion MACed with the client secret.

RFC 7523 §2.2 with an HMAC (RFC 7518 §3.2): the client secret is the key,
so it never travels; only a short-lived assertion does. RFC 7518 §3.2 asks
for a key at least as long as the hash: a secret shorter than that is
refused rather than used, since a short HMAC key can be brute-forced from a
single captured assertion.

HMAC lives here and nowhere else: the library's JOSE table (``_jose``)
holds only asymmetric algorithms, because a verifier that accepted ``HS*``
could be handed a token "signed" with its own public key.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from .._errors import ConfigError
from .._identity import credential_digest
from .._source import Clock
from ._assertion import AssertionSettings, SignedAssertionAuth

__all__ = ["HMAC_ALGORITHMS", "SecretJWTAuth", "check_hmac_secret"]

# RFC 7518 §3.2: each algorithm and the least key size, in bytes, it may use
# ("a key of the same size as the hash output ... or larger MUST be used").
HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}
_HMAC = jwt.PyJWS(algorithms=list(HMAC_ALGORITHMS))


def check_hmac_secret(client_secret: object, algorithm: object) -> tuple[bytes, str]:
    """The secret's UTF-8 bytes and the algorithm, once both are fit for ``client_secret_jwt``.

    Raises:
        ConfigError: an unknown algorithm, an empty secret, or one shorter
            than the algorithm needs. The message gives lengths, never the secret.
    """
    if not isinstance(algorithm, str) or algorithm not in HMAC_ALGORITHMS:
        names = ", ".join(HMAC_ALGORITHMS)
        raise ConfigError(f"algorithm must be one of {names}, not {str(algorithm)[:16]!r}")
    if not isinstance(client_secret, str) or not client_secret:
        raise ConfigError("client_secret must be a non-empty string")
    key = client_secret.encode("utf-8")
    needed = HMAC_ALGORITHMS[algorithm]
    if len(key) < needed:
        raise ConfigError(
            f"client_secret is {len(key)} bytes; {algorithm} needs at least {needed} "
            "(RFC 7518 §3.2). Use a longer secret, or a shorter hash (HS256 needs 32)"
        )
    return key, algorithm


class SecretJWTAuth(SignedAssertionAuth):
    """Authenticates with a JWT MACed with the client secret (``client_secret_jwt``)."""

    __slots__ = ("_key", "algorithm")

    method = "client_secret_jwt"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        settings: AssertionSettings,
        *,
        algorithm: str,
        clock: Clock,
    ) -> None:
        super().__init__(client_id, settings, clock=clock)
        self._key, self.algorithm = check_hmac_secret(client_secret, algorithm)

    def __repr__(self) -> str:
        return f"SecretJWTAuth(client_id={self.client_id!r}, algorithm={self.algorithm!r})"

    def sign(self, claims: dict[str, Any]) -> str:
        """The assertion MACed with the client secret."""
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        header = {"typ": "JWT", **self.headers}
        return _HMAC.encode(payload, self._key, algorithm=self.algorithm, headers=header)

    def cache_key(self) -> tuple[str, str]:
        """``client_secret_jwt`` and a digest of id and secret."""
        secret = self._key.decode("utf-8")
        return self.method, credential_digest(self.client_id, secret)
