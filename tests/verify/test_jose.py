"""The shared JOSE table: which key each algorithm needs, signing, verifying, thumbprints."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from tokensources._jose import (
    ALGORITHMS,
    SIGNATURE_ALGORITHMS,
    fits,
    jwk_thumbprint,
    key_type,
    operation,
    sign,
    verify_signature,
)

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_KEYS = {
    ("RSA", None): _RSA,
    ("EC", "P-256"): ec.generate_private_key(ec.SECP256R1()),
    ("EC", "P-384"): ec.generate_private_key(ec.SECP384R1()),
    ("EC", "P-521"): ec.generate_private_key(ec.SECP521R1()),
    ("OKP", "Ed25519"): ed25519.Ed25519PrivateKey.generate(),
    ("OKP", "Ed448"): ed448.Ed448PrivateKey.generate(),
}


def test_the_table_holds_asymmetric_signatures_only() -> None:
    """No HMAC, no none; RSA, EC and the Edwards names of RFC 8037 and RFC 9864 are all in."""
    assert not any(name.startswith("HS") or name.lower() == "none" for name in ALGORITHMS)
    assert set(SIGNATURE_ALGORITHMS) == set(ALGORITHMS)
    assert {"RS256", "PS512", "ES256", "ES512", "EdDSA", "Ed25519", "Ed448"} <= set(ALGORITHMS)
    assert ALGORITHMS["EdDSA"].curves == {"Ed25519", "Ed448"}
    assert ALGORITHMS["Ed25519"].curves == {"Ed25519"}
    assert ALGORITHMS["ES384"].curves == {"P-384"}
    assert ALGORITHMS["PS256"].kty == "RSA"


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS)
def test_every_algorithm_signs_and_verifies_with_the_key_it_fits(algorithm: str) -> None:
    """sign() then verify_signature() round-trips each name with each key that fits it."""
    fitting = [key for (kty, crv), key in _KEYS.items() if fits(algorithm, kty, crv)]
    assert fitting
    for key in fitting:
        token = sign({"sub": "svc"}, key, algorithm, {"kid": "k"})
        assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": "k", "typ": "JWT"}
        assert json.loads(verify_signature(token, key.public_key(), algorithm)) == {"sub": "svc"}


@pytest.mark.parametrize("algorithm", SIGNATURE_ALGORITHMS)
def test_keys_that_do_not_fit_are_refused(algorithm: str) -> None:
    """Signing or verifying with a key of another type or curve raises ValueError."""
    for (kty, crv), key in _KEYS.items():
        if fits(algorithm, kty, crv):
            continue
        with pytest.raises(ValueError, match="does not fit"):
            sign({"sub": "svc"}, key, algorithm)
        token = sign({"sub": "svc"}, _RSA, "RS256")
        with pytest.raises(ValueError, match="does not fit"):
            verify_signature(token, key.public_key(), algorithm)


def test_the_header_must_name_the_algorithm_asked_for() -> None:
    """An EdDSA token does not verify as Ed25519 (nor the reverse), though the bytes would."""
    key = _KEYS[("OKP", "Ed25519")]
    eddsa = sign({"sub": "svc"}, key, "EdDSA")
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify_signature(eddsa, key.public_key(), "Ed25519")
    with pytest.raises(jwt.InvalidSignatureError):
        verify_signature(eddsa[:-4] + "AAAA", key.public_key(), "EdDSA")


def test_operation_names_what_eddsa_does_on_each_curve() -> None:
    """EdDSA on Ed25519 is Ed25519 (RFC 9864 §2.2); every other name is itself."""
    assert operation("EdDSA", "Ed25519") == "Ed25519"
    assert operation("EdDSA", "Ed448") == "Ed448"
    assert operation("EdDSA", None) == "EdDSA"
    assert operation("EdDSA", "X25519") == "EdDSA"
    assert operation("Ed25519", "Ed25519") == "Ed25519"
    assert operation("ES256", "P-256") == "ES256"


def test_key_type_names_public_and_private_keys() -> None:
    """key_type gives the JWK kty and crv of cryptography keys, None for anything else."""
    for described, key in _KEYS.items():
        assert key_type(key) == described
        assert key_type(key.public_key()) == described
    assert key_type(ec.generate_private_key(ec.SECP256K1())) is None
    assert key_type(b"secret") is None


def test_rfc7638_thumbprint_example() -> None:
    """The thumbprint of RFC 7638 §3.1's example key is the one the RFC gives."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
            "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR"
            "0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
            "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_covers_only_the_required_members() -> None:
    """kid, alg, use and private members do not change an OKP key's thumbprint."""
    x = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    bare = {"kty": "OKP", "crv": "Ed25519", "x": x}
    assert jwk_thumbprint(bare) == jwk_thumbprint({**bare, "kid": "k", "use": "sig", "d": x})


def test_pyjwt_global_state_is_left_alone() -> None:
    """The RFC 9864 names live in the library's own JWS object; pyjwt's globals never learn them."""
    key = _KEYS[("OKP", "Ed25519")]
    token = sign({"sub": "svc"}, key, "Ed25519")
    if "Ed25519" in get_default_algorithms():  # pragma: no cover - a pyjwt that knows the name
        jwt.decode(token, key.public_key(), algorithms=["Ed25519"])
    else:
        with pytest.raises(jwt.InvalidAlgorithmError):
            jwt.decode(token, key.public_key(), algorithms=["Ed25519"])
