"""Pure parsing of a JWK Set into verification keys (RFC 7517), no I/O.

Only asymmetric public keys are kept. Symmetric (``oct``) keys, keys meant
for encryption and private key members are dropped, so that nothing read
from a JWKS can ever be used as an HMAC secret (the "HS256 signed with the
public key" confusion) or leak private material into memory we hand around.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from .._errors import ConfigError
from .._log import logger

__all__ = ["ALGORITHMS", "MAX_KEYS", "KeySet", "VerificationKey", "check_algorithms", "parse_jwks"]

# Signature algorithm → (JWK key type, allowed curves or None for any).
# RFC 7518 §3.1 and RFC 8037 §3.1. HMAC ("HS*") and "none" are deliberately absent.
ALGORITHMS: Mapping[str, tuple[str, frozenset[str] | None]] = MappingProxyType(
    {
        "RS256": ("RSA", None),
        "RS384": ("RSA", None),
        "RS512": ("RSA", None),
        "PS256": ("RSA", None),
        "PS384": ("RSA", None),
        "PS512": ("RSA", None),
        "ES256": ("EC", frozenset({"P-256"})),
        "ES384": ("EC", frozenset({"P-384"})),
        "ES512": ("EC", frozenset({"P-521"})),
        "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    }
)
# The public members of each key type (RFC 7518 §6, RFC 8037 §2); the rest is dropped.
_PUBLIC_MEMBERS = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}
_LOADERS = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk, "OKP": OKPAlgorithm.from_jwk}
# A real JWKS holds a handful of keys; this bounds the work a hostile one can cause.
MAX_KEYS = 100


def check_algorithms(algorithms: object) -> tuple[str, ...]:
    """Validate the accepted signature algorithms and return them as a tuple.

    Raises:
        ConfigError: empty, not strings, or naming an algorithm that is not an
            asymmetric signature algorithm (``none`` and ``HS*`` included).
    """
    if isinstance(algorithms, str) or not isinstance(algorithms, (list, tuple, frozenset, set)):
        raise ConfigError("algorithms must be a sequence of algorithm names, e.g. ('RS256',)")
    result = tuple(algorithms)
    if not result:
        raise ConfigError("algorithms must name at least one algorithm")
    for alg in result:
        if alg not in ALGORITHMS:
            raise ConfigError(
                f"algorithm {alg!r} is not supported; use asymmetric ones: {', '.join(ALGORITHMS)}"
            )
    return result


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key from a JWKS, with the metadata that restricts its use."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any = field(repr=False)

    def accepts(self, alg: str) -> bool:
        """Whether a signature made with ``alg`` may be checked with this key.

        The key type (and curve) must fit the algorithm, and a key that
        names its ``alg`` (RFC 7517 §4.4) is used for that algorithm only.
        """
        spec = ALGORITHMS.get(alg)
        if spec is None or spec[0] != self.kty:
            return False
        if spec[1] is not None and self.crv not in spec[1]:
            return False
        return self.alg is None or self.alg == alg


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable keys of one JWKS document, by ``kid``."""

    keys: tuple[VerificationKey, ...]
    by_kid: Mapping[str, VerificationKey]

    def find(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for a token header's ``kid`` and ``alg``, or None.

        A token without ``kid`` is matched only when exactly one key fits
        ``alg``: guessing among several would be trying keys until one works.
        """
        if kid is not None:
            key = self.by_kid.get(kid)
            return key if key is not None and key.accepts(alg) else None
        fitting = [key for key in self.keys if key.accepts(alg)]
        return fitting[0] if len(fitting) == 1 else None


def parse_jwks(document: bytes | str | Mapping[str, Any]) -> KeySet:
    """Parse a JWKS document into its usable verification keys.

    Keys that cannot be used for verifying signatures are skipped (and
    logged at debug level): symmetric keys, ``use`` other than ``sig``,
    ``key_ops`` without ``verify``, unknown key types and malformed keys.
    Private members are ignored; only the public parts are loaded.

    Raises:
        ValueError: the document is not JSON, not an object, or has no
            ``keys`` array.
    """
    if not isinstance(document, Mapping):
        document = json.loads(document)
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS must be a JSON object with a 'keys' array")
    keys: list[VerificationKey] = []
    for jwk in document["keys"][:MAX_KEYS]:
        key = _load_key(jwk)
        if key is not None:
            keys.append(key)
    by_kid: dict[str, VerificationKey] = {}
    for key in keys:
        if key.kid is not None:
            by_kid.setdefault(key.kid, key)
    return KeySet(tuple(keys), MappingProxyType(by_kid))


def _usable(jwk: Mapping[str, Any]) -> bool:
    """Whether a JWK is a public signature-verification key we can use."""
    kty, kid, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("alg")
    if kty not in _PUBLIC_MEMBERS or (kid is not None and not isinstance(kid, str)):
        logger.debug("JWKS key skipped: key type %r is not an asymmetric signing key", kty)
        return False
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return False
    return jwk.get("use", "sig") == "sig" and (alg is None or alg in ALGORITHMS)


def _load_key(jwk: object) -> VerificationKey | None:
    if not isinstance(jwk, Mapping) or not _usable(jwk):
        return None
    kty, kid, alg = jwk["kty"], jwk.get("kid"), jwk.get("alg")
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[kty] if name in jwk}
    try:
        loaded = _LOADERS[kty](json.dumps(public))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        logger.debug("JWKS key %r skipped: malformed %s key", kid, kty)
        return None
    crv = public.get("crv")
    return VerificationKey(kid, kty, crv if isinstance(crv, str) else None, alg, loaded)
