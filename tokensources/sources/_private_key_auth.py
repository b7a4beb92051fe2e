"""``private_key_jwt`` client authentication: a fresh assertion signed by the client's key."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._identity import credential_digest
from .._source import Clock
from ._assertion import CLIENT_ASSERTION_TYPE, assertion_claims
from ._client_auth import ClientAuth, Credentials, check_client_id
from ._signing_keys import SigningKey

__all__ = ["PrivateKeyJWTAuth"]


class PrivateKeyJWTAuth(ClientAuth):
    """Authenticates with a JWT signed by the client's private key (RFC 7523 §2.2).

    Each request carries a new assertion (``iss`` = ``sub`` = the client id,
    a fresh ``jti``), so none is ever replayed.
    """

    __slots__ = ("_clock", "audience", "headers", "key", "lifetime")

    method = "private_key_jwt"
    client_id: str

    def __init__(
        self,
        client_id: str,
        key: SigningKey,
        *,
        audience: str | list[str] | None,
        lifetime: float,
        headers: Mapping[str, str],
        clock: Clock,
    ) -> None:
        super().__init__(check_client_id(client_id))
        self.key = key
        self.audience = audience  # None: the token URL of each request
        self.lifetime = lifetime
        self.headers: Mapping[str, str] = MappingProxyType(dict(headers))
        self._clock = clock

    def __repr__(self) -> str:
        return f"PrivateKeyJWTAuth(client_id={self.client_id!r}, key={self.key!r})"

    def claims(self, token_url: str) -> dict[str, Any]:
        """The claims of a new assertion for ``token_url``, with a fresh ``jti``."""
        audience = self.audience if self.audience is not None else token_url
        return assertion_claims(self.client_id, audience, self.lifetime, self._clock())

    async def credentials(self, token_url: str) -> Credentials:
        """``client_id``, ``client_assertion_type`` and a freshly signed ``client_assertion``."""
        assertion = self.key.sign(self.claims(token_url), self.headers)
        form = {
            # RFC 7521 §4.2: client_id is optional with an assertion, but some
            # providers (Entra ID) require it, and it must match the assertion.
            "client_id": self.client_id,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        # The signature alone is what cannot be forged: masked on its own too.
        return Credentials(form=form, secrets=(assertion, assertion.rsplit(".", 1)[-1]))

    def cache_key(self) -> tuple[str, str]:
        """``private_key_jwt`` and a digest of the public key, algorithm and ``kid``.

        Only the public half: it identifies the credential as well as the
        private key does, and nothing derived from the private key is kept.
        """
        key = self.key
        digest = credential_digest(
            "private_key_jwt", key.thumbprint, key.algorithm, key.key_id or ""
        )
        return self.method, digest
