"""``private_key_jwt`` client authentication: a fresh assertion signed by the client's key."""

from __future__ import annotations

from typing import Any

from .._identity import credential_digest
from .._source import Clock
from ._assertion import AssertionSettings, SignedAssertionAuth
from ._signing_keys import SigningKey

__all__ = ["PrivateKeyJWTAuth"]


class PrivateKeyJWTAuth(SignedAssertionAuth):
    """Authenticates with a JWT signed by the client's private key (RFC 7523 §2.2)."""

    __slots__ = ("key",)

    method = "private_key_jwt"

    def __init__(
        self, client_id: str, key: SigningKey, settings: AssertionSettings, *, clock: Clock
    ) -> None:
        super().__init__(client_id, settings, clock=clock)
        self.key = key

    def __repr__(self) -> str:
        return f"PrivateKeyJWTAuth(client_id={self.client_id!r}, key={self.key!r})"

    def sign(self, claims: dict[str, Any]) -> str:
        """The assertion signed with the private key (``kid`` in its header when set)."""
        return self.key.sign(claims, self.headers)

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
