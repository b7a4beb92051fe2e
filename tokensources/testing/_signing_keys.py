"""The issuer's token-signing keys and the JWKS that publishes them."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .._jose import jwk_thumbprint

__all__ = ["SIGNING_ALGORITHM", "SigningKey", "SigningKeys"]

SIGNING_ALGORITHM = "RS256"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One RSA signing key with its key id and public JWK."""

    kid: str
    private: rsa.RSAPrivateKey
    public: rsa.RSAPublicKey
    jwk: dict[str, Any]

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh 2048-bit RSA key whose ``kid`` is its RFC 7638 thumbprint."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = private.public_key()
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        kid = jwk_thumbprint(jwk)
        published = {"kty": "RSA", "use": "sig", "alg": SIGNING_ALGORITHM, "kid": kid}
        published |= {"n": jwk["n"], "e": jwk["e"]}
        return cls(kid, private, public, published)


class SigningKeys:
    """The current signing key plus, after a keep-old rotation, retired ones.

    The first key is generated lazily, on first use (key generation takes
    tens of milliseconds; a server that never signs never pays). The JWKS
    document is serialised once per key change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: SigningKey | None = None
        self._retired: tuple[SigningKey, ...] = ()
        self._by_kid: dict[str, SigningKey] = {}
        self._jwks_bytes: bytes | None = None

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        key = self._current
        if key is None:
            with self._lock:
                if self._current is None:
                    self._install(SigningKey.generate(), ())
                key = self._current
        assert key is not None  # noqa: S101 - _install always sets it
        return key

    def rotate(self, *, keep_old: bool = False) -> SigningKey:
        """Switch to a fresh key; keep the old ones published and valid if ``keep_old``."""
        new = SigningKey.generate()
        with self._lock:
            old = self._current
            retired = (*self._retired, old) if keep_old and old is not None else ()
            self._install(new, retired)
        return new

    def _install(self, current: SigningKey, retired: tuple[SigningKey, ...]) -> None:
        by_kid = {key.kid: key for key in (*retired, current)}
        jwks = {"keys": [key.jwk for key in (current, *reversed(retired))]}
        self._jwks_bytes = json.dumps(jwks, separators=(",", ":")).encode()
        self._by_kid = by_kid
        self._retired = retired
        self._current = current

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign ``claims`` as an RFC 9068 access token JWT with the current key."""
        key = self.current
        headers = {"kid": key.kid, "typ": "at+jwt"}
        return jwt.encode(claims, key.private, algorithm=SIGNING_ALGORITHM, headers=headers)

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The published public key with this ``kid``, or None."""
        self.current  # noqa: B018 - make sure the first key exists
        key = self._by_kid.get(kid)
        return key.public if key is not None else None

    def jwks_bytes(self) -> bytes:
        """The JWKS document (RFC 7517 §5) as JSON bytes, cached per key change."""
        self.current  # noqa: B018 - make sure the first key exists
        assert self._jwks_bytes is not None  # noqa: S101 - set with the first key
        return self._jwks_bytes

    def jwks(self) -> dict[str, Any]:
        """The JWKS document as a dict (a fresh copy)."""
        result: dict[str, Any] = json.loads(self.jwks_bytes())
        return result
