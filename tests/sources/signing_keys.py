"""Test signing keys, generated once per test run, and their serialised forms."""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PASSWORD = "c0rrect-h0rse-battery"
KEY_NAMES = ("rsa", "p256", "p384", "ed25519", "ed448")
# Each algorithm with a key that can sign with it.
ALGORITHM_KEYS = (
    ("RS256", "rsa"),
    ("RS384", "rsa"),
    ("RS512", "rsa"),
    ("PS256", "rsa"),
    ("ES256", "p256"),
    ("ES384", "p384"),
    ("EdDSA", "ed25519"),
    ("EdDSA", "ed448"),
)
KEY_FORMATS = (
    "object",
    "pem-pkcs8",
    "pem-str",
    "pem-traditional",
    "pem-encrypted",
    "jwk",
    "jwk-json",
)


@functools.cache
def key(name: str) -> PrivateKeyTypes:
    """The private key called ``name``, generated on first use and then reused."""
    if name == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if name == "rsa-small":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if name == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if name == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if name == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if name == "ed448":
        return ed448.Ed448PrivateKey.generate()
    raise KeyError(name)


def pem(private: PrivateKeyTypes, *, traditional: bool = False, password: str | None = None) -> bytes:
    """``private`` as PEM: PKCS#8 by default, optionally OpenSSL-traditional or encrypted."""
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password is not None
        else serialization.NoEncryption()
    )
    return private.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def public_pem(private: PrivateKeyTypes) -> bytes:
    """The public half of ``private`` as a SubjectPublicKeyInfo PEM."""
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_jwk(private: PrivateKeyTypes) -> dict[str, Any]:
    """``private`` as a private JWK, serialised by pyjwt (not by the code under test)."""
    return dict(_algorithm_class(private).to_jwk(private, as_dict=True))  # type: ignore[attr-defined]


def public_jwk(private: PrivateKeyTypes) -> dict[str, Any]:
    """The public half of ``private`` as a JWK, serialised by pyjwt."""
    jwk = dict(_algorithm_class(private).to_jwk(private.public_key(), as_dict=True))  # type: ignore[attr-defined]
    jwk.pop("key_ops", None)
    return jwk


def _algorithm_class(private: PrivateKeyTypes) -> type[Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        return RSAAlgorithm
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECAlgorithm
    return OKPAlgorithm


def encode(name: str, key_format: str) -> tuple[Any, str | None]:
    """The key called ``name`` in ``key_format``, with the password it needs (or None)."""
    private = key(name)
    if key_format == "object":
        return private, None
    if key_format == "pem-pkcs8":
        return pem(private), None
    if key_format == "pem-str":
        return pem(private).decode(), None
    if key_format == "pem-traditional":
        return pem(private, traditional=True), None
    if key_format == "pem-encrypted":
        return _encrypted_pem(name), PASSWORD
    if key_format == "jwk":
        return private_jwk(private), None
    if key_format == "jwk-json":
        return json.dumps(private_jwk(private)), None
    raise KeyError(key_format)


@functools.cache
def _encrypted_pem(name: str) -> bytes:
    return pem(key(name), password=PASSWORD)


def key_material(private: PrivateKeyTypes) -> list[str]:
    """Fragments that would betray ``private`` if they appeared in a message.

    Every line of its PEM body and every private JWK member.
    """
    body = [line for line in pem(private).decode().splitlines() if not line.startswith("-----")]
    jwk = private_jwk(private)
    members = [str(jwk[name]) for name in ("d", "p", "q", "dp", "dq", "qi") if name in jwk]
    return [*body, *members]
