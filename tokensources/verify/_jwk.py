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
from .._jose import ALGORITHMS, fits, jwk_thumbprint, operation
from .._log import logger

__all__ = ["MAX_KEYS", "KeySet", "VerificationKey", "check_algorithms", "parse_jwks"]

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
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise ConfigError(
                f"algorithm {alg!r} is not supported; use asymmetric ones: {', '.join(ALGORITHMS)}"
            )
    return result


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key from a JWKS, with the metadata that restricts its use.

    Attributes:
        thumbprint: the key's RFC 7638 thumbprint: the same key has the same
            thumbprint in every fetch of the key set, so caches of
            verification results can tell whether it is still published.
    """

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any = field(repr=False)
    thumbprint: str = ""

    def accepts(self, alg: str) -> bool:
        """Whether a signature made with ``alg`` may be checked with this key.

        The key type (and curve) must fit the algorithm, and a key that
        names its ``alg`` (RFC 7517 §4.4) is used for that algorithm only —
        or for another name of the same operation: a key published as
        ``EdDSA`` on Ed25519 also checks ``Ed25519`` signatures, and the
        reverse (RFC 9864 §2.2).
        """
        if not fits(alg, self.kty, self.crv):
            return False
        return self.alg is None or operation(self.alg, self.crv) == operation(alg, self.crv)


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable keys of one JWKS document, and those of each ``kid``.

    RFC 7517 §4.5 lets keys of different types share a ``kid`` (the same
    signer's RSA and EC keys, say), so a ``kid`` may name several keys.
    """

    keys: tuple[VerificationKey, ...]
    by_kid: Mapping[str, tuple[VerificationKey, ...]]

    def find(self, kid: str | None, alg: str) -> VerificationKey | None:
        """The key for a token header's ``kid`` and ``alg``, or None.

        With a ``kid``: the first of its keys (in document order) whose type,
        curve and own ``alg`` fit ``alg``. A token without ``kid`` is matched
        only when exactly one key fits ``alg``: guessing among several would
        be trying keys until one works.
        """
        if kid is not None:
            return next((key for key in self.by_kid.get(kid, ()) if key.accepts(alg)), None)
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
    by_kid: dict[str, tuple[VerificationKey, ...]] = {}
    for key in keys:
        if key.kid is not None:
            by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
    return KeySet(tuple(keys), MappingProxyType(by_kid))


def _usable(jwk: Mapping[str, Any]) -> bool:
    """Whether a JWK is a public signature-verification key we can use."""
    kty, kid, alg = jwk.get("kty"), jwk.get("kid"), jwk.get("alg")
    # Members of the wrong JSON type (a list where a string belongs) make the
    # key unusable, never the whole document unreadable.
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        logger.debug("JWKS key skipped: key type %r is not an asymmetric signing key", kty)
        return False
    if kid is not None and not isinstance(kid, str):
        logger.debug("JWKS key skipped: its kid is not a string")
        return False
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return False
    # RFC 7517 §4.2 and §4.4: a key meant for encryption, or for an algorithm
    # outside the table, is never used to verify.
    return jwk.get("use", "sig") == "sig" and (
        alg is None or (isinstance(alg, str) and alg in ALGORITHMS)
    )


def _load_key(jwk: object) -> VerificationKey | None:
    if not isinstance(jwk, Mapping) or not _usable(jwk):
        return None
    kty, kid, alg = jwk["kty"], jwk.get("kid"), jwk.get("alg")
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[kty] if name in jwk}
    try:
        loaded = _LOADERS[kty](json.dumps(public))
        # The key loaded, so its required members are there and of the right type.
        thumbprint = jwk_thumbprint(public)
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        logger.debug("JWKS key %r skipped: malformed %s key", kid, kty)
        return None
    crv = public.get("crv")
    return VerificationKey(kid, kty, crv if isinstance(crv, str) else None, alg, loaded, thumbprint)
