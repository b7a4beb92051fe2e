"""Public keys as the server registers them: a JWK Set loaded into key objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .._errors import ConfigError

__all__ = ["ClientKey", "load_jwks"]

# A registered public key: its JWK as given, and the ``cryptography`` key object.
ClientKey = tuple[dict[str, Any], Any]
# By key type, not by algorithm: a JWK naming an RFC 9864 algorithm ("Ed25519")
# loads as well as one naming "EdDSA" or none.
_LOADERS = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk, "OKP": OKPAlgorithm.from_jwk}


def load_jwks(jwks: Mapping[str, Any]) -> tuple[ClientKey, ...]:
    """Parse a JWK Set (or one JWK) of public keys into (raw JWK, key object) pairs.

    Raises:
        ConfigError: the set is malformed, holds a private or symmetric key, or
            a key that cannot be loaded.
    """
    raw_keys = jwks.get("keys") if "keys" in jwks else [jwks]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ConfigError("jwks must be a JWK Set with a non-empty 'keys' list")
    loaded: list[ClientKey] = []
    for raw in raw_keys:
        if not isinstance(raw, Mapping) or raw.get("kty") not in _LOADERS:
            raise ConfigError("jwks keys must be RSA, EC or OKP public keys")
        if "d" in raw:
            raise ConfigError("jwks must hold public keys only, not private keys")
        try:
            loaded.append((dict(raw), _LOADERS[raw["kty"]](dict(raw))))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise ConfigError(f"jwks key {raw.get('kid')!r} cannot be loaded ({problem})") from None
    return tuple(loaded)
