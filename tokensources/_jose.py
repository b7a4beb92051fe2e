"""The JOSE facts every part of the library shares: the algorithm table and JWK thumbprints.

Sources sign with these algorithms, ``tokensources.verify`` accepts them, the
testing server announces and checks them and the command line offers them:
one table, so the four can never disagree.

Only asymmetric signature algorithms are in the table. HMAC (``HS*``) and
``none`` are absent on purpose: a verifier that accepted them could be handed
a token "signed" with its own public key as the HMAC secret.

Each algorithm names the key type (RFC 7517 §4.1 ``kty``) and, for elliptic
curves, the curves (``crv``) it may be used with:

==========================  =====  ==================  =========================
algorithm                   kty    crv                 defined in
==========================  =====  ==================  =========================
RS256, RS384, RS512         RSA    —                   RFC 7518 §3.3
PS256, PS384, PS512         RSA    —                   RFC 7518 §3.5
ES256 / ES384 / ES512       EC     P-256 / P-384 /     RFC 7518 §3.4
                                   P-521
EdDSA (deprecated)          OKP    Ed25519, Ed448      RFC 8037 §3.1
Ed25519                     OKP    Ed25519             RFC 9864 §2.2
Ed448                       OKP    Ed448               RFC 9864 §2.2
==========================  =====  ==================  =========================

``EdDSA`` is polymorphic: the key's curve decides the operation. RFC 9864
deprecates it in favour of the fully specified ``Ed25519`` and ``Ed448``,
which name the same operations; ``operation()`` says which one a name
stands for. ``Ed448`` is in the table only where the installed
``cryptography`` can use Ed448 keys.

``sign`` and ``verify_signature`` sign and check compact JWS with any name in
the table (pyjwt itself knows ``EdDSA`` but not the RFC 9864 names), always
through a private pyjwt instance: nothing here registers algorithms in
pyjwt's global state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import OKPAlgorithm, get_default_algorithms

__all__ = [
    "ALGORITHMS",
    "MIN_RSA_BITS",
    "SIGNATURE_ALGORITHMS",
    "AlgorithmSpec",
    "fits",
    "jwk_thumbprint",
    "key_type",
    "operation",
    "sign",
    "verify_signature",
]


@dataclass(frozen=True, slots=True)
class AlgorithmSpec:
    """What one JWS algorithm needs of its key.

    Attributes:
        name: the ``alg`` value.
        kty: the JWK key type: ``"RSA"``, ``"EC"`` or ``"OKP"``.
        curves: the JWK ``crv`` values allowed, or None when the key type has
            no curve (RSA).
    """

    name: str
    kty: str
    curves: frozenset[str] | None = None

    def fits(self, kty: str, crv: str | None) -> bool:
        """Whether a key of type ``kty`` on curve ``crv`` can sign or verify with this algorithm."""
        if kty != self.kty:
            return False
        return self.curves is None or crv in self.curves


def _ed448_supported() -> bool:
    # OpenSSL builds without Ed448 exist (some FIPS and LibreSSL builds).
    try:
        ed448.Ed448PrivateKey.generate()
    except UnsupportedAlgorithm:  # pragma: no cover - depends on the OpenSSL build
        return False
    return True


def _table() -> dict[str, AlgorithmSpec]:
    edwards = ("Ed25519", "Ed448") if _ed448_supported() else ("Ed25519",)
    specs = [
        # RFC 7518 §3.3 (RSASSA-PKCS1-v1_5) and §3.5 (RSASSA-PSS).
        *(AlgorithmSpec(name, "RSA") for name in ("RS256", "RS384", "RS512")),
        *(AlgorithmSpec(name, "RSA") for name in ("PS256", "PS384", "PS512")),
        # RFC 7518 §3.4: each ES algorithm fixes its curve.
        AlgorithmSpec("ES256", "EC", frozenset({"P-256"})),
        AlgorithmSpec("ES384", "EC", frozenset({"P-384"})),
        AlgorithmSpec("ES512", "EC", frozenset({"P-521"})),
        # RFC 8037 §3.1: the polymorphic name; the key's curve picks the operation.
        AlgorithmSpec("EdDSA", "OKP", frozenset(edwards)),
        # RFC 9864 §2.2: the fully specified names, one curve each.
        *(AlgorithmSpec(curve, "OKP", frozenset({curve})) for curve in edwards),
    ]
    return {spec.name: spec for spec in specs}


ALGORITHMS: Mapping[str, AlgorithmSpec] = MappingProxyType(_table())
_EDWARDS = ALGORITHMS["EdDSA"].curves or frozenset()
"""Every signature algorithm the library signs and verifies with, by name."""

SIGNATURE_ALGORITHMS: tuple[str, ...] = tuple(ALGORITHMS)
"""The names of ``ALGORITHMS`` in a stable order (for help texts and server metadata)."""

# RFC 7518 §3.3 and §3.5: "A key of size 2048 bits or larger MUST be used".
MIN_RSA_BITS = 2048

# RFC 7638 §3.2: the members a thumbprint covers, per key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
# What serves an algorithm pyjwt does not know by name.
_IMPLEMENTATIONS = {"OKP": OKPAlgorithm}
# cryptography's curve names for the JWK ones (RFC 7518 §6.2.1.1).
_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def fits(algorithm: str, kty: str, crv: str | None) -> bool:
    """Whether a key of type ``kty`` on curve ``crv`` can be used with ``algorithm``.

    False for a name that is not in ``ALGORITHMS`` (``none``, ``HS256``, …).
    """
    spec = ALGORITHMS.get(algorithm)
    return spec is not None and spec.fits(kty, crv)


def operation(algorithm: str, crv: str | None) -> str:
    """The fully specified name of what ``algorithm`` does with a key on curve ``crv``.

    ``EdDSA`` with an Ed25519 key is ``Ed25519`` (RFC 9864 §2.2: the same
    operation under its fully specified name); every other name stands for
    itself. Two names with the same operation produce and accept the same
    signatures, so a JWK published with ``"alg": "EdDSA"`` also verifies a
    token whose header says ``Ed25519``.
    """
    if algorithm == "EdDSA" and crv in _EDWARDS:
        return crv
    return algorithm


def key_type(key: object) -> tuple[str, str | None] | None:
    """The JWK ``kty`` and ``crv`` of a ``cryptography`` key object (public or private).

    None for any other object, and for curves no algorithm of the table uses.
    """
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RSA", None
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        crv = _EC_CURVES.get(key.curve.name)
        return None if crv is None else ("EC", crv)
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "OKP", "Ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "OKP", "Ed448"
    return None


def _jws() -> jwt.PyJWS:
    native = get_default_algorithms()
    jws = jwt.PyJWS(algorithms=[name for name in ALGORITHMS if name in native])
    for name, spec in ALGORITHMS.items():
        if name not in native:
            # pyjwt knows the Edwards operations only as "EdDSA"; its OKP
            # implementation serves the RFC 9864 names too, and the key's curve
            # is checked against the table before any key is used. Any other
            # missing name is a KeyError here, at import.
            jws.register_algorithm(name, _IMPLEMENTATIONS[spec.kty]())
    return jws


_JWS = _jws()


def _check_fits(key: object, algorithm: str) -> None:
    described = key_type(key)
    if described is None or not fits(algorithm, *described):
        raise ValueError(f"the key does not fit algorithm {algorithm[:16]!r}")


def sign(
    claims: Mapping[str, Any],
    key: Any,
    algorithm: str,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS of ``claims`` (compact JSON) signed with ``key`` and ``algorithm``.

    The header is ``{"typ": "JWT", "alg": algorithm}`` updated with ``headers``.

    Raises:
        ValueError: ``algorithm`` is not in the table, or ``key`` is not a
            private key that fits it.
    """
    _check_fits(key, algorithm)
    payload = json.dumps(dict(claims), separators=(",", ":")).encode("utf-8")
    return _JWS.encode(payload, key, algorithm=algorithm, headers=dict(headers or {}))


def verify_signature(token: str, key: Any, algorithm: str) -> bytes:
    """The payload of the compact JWS ``token``, once its signature checks out.

    The token's header must name ``algorithm``, and ``key`` (a public key
    object) must fit it: an Ed448 key never verifies an ``Ed25519`` token,
    an RSA key never an ``ES256`` one.

    Raises:
        ValueError: ``algorithm`` is not in the table, or ``key`` does not fit it.
        jwt.PyJWTError: the token is malformed, names another algorithm, or
            its signature does not verify.
    """
    _check_fits(key, algorithm)
    # The compact parsing is done here rather than by pyjwt's ``decode``, whose
    # character-by-character base64url check costs more than the signature
    # itself; the signature check stays pyjwt's (and cryptography's).
    if not isinstance(token, str) or not _COMPACT_JWS.fullmatch(token):
        raise jwt.DecodeError("not a compact JWS")
    signing_input, _, encoded_signature = token.rpartition(".")
    encoded_header, _, encoded_payload = signing_input.partition(".")
    try:
        header = json.loads(_canonical_b64decode(encoded_header))
    except (ValueError, UnicodeDecodeError):
        raise jwt.DecodeError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise jwt.DecodeError("the header is not a JSON object")
    if header.get("alg") != algorithm:
        raise jwt.InvalidAlgorithmError("the token names another algorithm")
    # RFC 7797 changes what the payload is; RFC 7515 §4.1.11: no extension is understood.
    if "b64" in header or "crit" in header:
        raise jwt.DecodeError("the header uses an extension that is not supported")
    implementation = _JWS.get_algorithm_by_name(algorithm)
    signature = _canonical_b64decode(encoded_signature)
    prepared = implementation.prepare_key(key)
    if not implementation.verify(signing_input.encode("ascii"), prepared, signature):
        raise jwt.InvalidSignatureError("the signature does not verify")
    return _canonical_b64decode(encoded_payload)


# Three base64url parts, the signature not empty.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")


def _canonical_b64decode(encoded: str) -> bytes:
    """Unpadded base64url, refusing the encodings that do not round-trip (extra bits set)."""
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise jwt.DecodeError("not base64url") from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != encoded.encode("ascii"):
        raise jwt.DecodeError("not canonical base64url")
    return decoded


def jwk_thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA, EC or OKP JWK, base64url without padding.

    RFC 7638 §3: SHA-256 over the required public members, sorted, without
    whitespace; other members (``kid``, ``alg``, private ones) are ignored.

    Raises:
        KeyError: the JWK has another key type, or lacks a required member.
    """
    members = {name: public_jwk[name] for name in _THUMBPRINT_MEMBERS[public_jwk["kty"]]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
