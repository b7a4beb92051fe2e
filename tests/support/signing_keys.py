"""Test signing keys, generated once per test run, and their serialised forms."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PASSWORD = "c0rrect-h0rse-battery"
KEY_NAMES = ("rsa", "p256", "p384", "ed25519")
# Each algorithm with a key that can sign with it.
ALGORITHM_KEYS = (
    ("RS256", "rsa"),
    ("RS384", "rsa"),
    ("RS512", "rsa"),
    ("PS256", "rsa"),
    ("ES256", "p256"),
    ("ES384", "p384"),
    ("EdDSA", "ed25519"),
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


_GENERATORS: dict[str, Callable[[], PrivateKeyTypes]] = {
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa-other": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    # S505: a short key is generated only to check that it is refused.
    "rsa-small": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed448": ed448.Ed448PrivateKey.generate,
}


@functools.cache
def key(name: str) -> PrivateKeyTypes:
    """The private key called ``name``, generated on first use and then reused."""
    return _GENERATORS[name]()


def rsa_key() -> rsa.RSAPrivateKey:
    """The main RSA test key, typed as such."""
    private = key("rsa")
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


def pem(
    private: PrivateKeyTypes, *, traditional: bool = False, password: str | None = None
) -> bytes:
    """``private`` as PEM: PKCS#8 by default, optionally OpenSSL-traditional or encrypted."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
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
    return dict(_algorithm_class(private).to_jwk(private, as_dict=True))


def public_jwk(private: PrivateKeyTypes) -> dict[str, Any]:
    """The public half of ``private`` as a JWK, serialised by pyjwt."""
    jwk = dict(_algorithm_class(private).to_jwk(private.public_key(), as_dict=True))
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
    if key_format == "pem-encrypted":
        return _encrypted_pem(name), PASSWORD
    encoders: dict[str, Callable[[], Any]] = {
        "object": lambda: private,
        "pem-pkcs8": lambda: pem(private),
        "pem-str": lambda: pem(private).decode(),
        "pem-traditional": lambda: pem(private, traditional=True),
        "jwk": lambda: private_jwk(private),
        "jwk-json": lambda: json.dumps(private_jwk(private)),
    }
    return encoders[key_format](), None


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
