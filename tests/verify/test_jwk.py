"""Parsing a JWKS: only public asymmetric signature keys survive."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.verify.conftest import jwk_of, other_ec_key, other_rsa_key
from tokensources.verify._jwk import MAX_KEYS, parse_jwks

_RSA = other_rsa_key()


def rsa_jwk(**extra: Any) -> dict[str, Any]:
    """The RSA test key as a JWK with extra members."""
    return {**jwk_of(_RSA, kid="r"), **extra}


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "r"},
        rsa_jwk(use="enc"),
        rsa_jwk(key_ops=["encrypt"]),
        rsa_jwk(key_ops="verify"),
        rsa_jwk(alg="HS256"),
        rsa_jwk(kid=5),
        {"kty": "RSA", "kid": "r", "n": "!!", "e": "AQAB"},
        {"kty": "EC", "kid": "r", "crv": "P-256"},
        "not a key",
        {**rsa_jwk(), "kty": ["RSA"]},
        rsa_jwk(alg=["RS256"]),
        rsa_jwk(alg={"name": "RS256"}),
        rsa_jwk(use=["sig"]),
    ],
)
def test_unusable_keys_are_skipped(jwk: object) -> None:
    """Symmetric, encryption, mis-typed and malformed keys are dropped, the good ones kept."""
    assert parse_jwks({"keys": [jwk]}).keys == ()
    good = jwk_of(other_ec_key(), kid="good")
    assert [key.kid for key in parse_jwks({"keys": [jwk, good]}).keys] == ["good"]


def test_private_members_are_ignored() -> None:
    """A JWK that carries private members yields only a public key."""
    private = rsa_jwk(d="AQAB", p="AQAB", q="AQAB")
    (key,) = parse_jwks({"keys": [private]}).keys
    assert isinstance(key.key, rsa.RSAPublicKey)


def test_key_fits_only_its_algorithm() -> None:
    """An RSA key fits RS*/PS* (only its own alg when it names one), an EC key its curve."""
    keys = parse_jwks(
        {"keys": [rsa_jwk(), rsa_jwk(kid="pinned", alg="PS256"), jwk_of(other_ec_key(), kid="e")]}
    )
    assert keys.find("r", "RS256") is not None
    assert keys.find("r", "PS512") is not None
    assert keys.find("r", "ES256") is None
    assert keys.find("pinned", "RS256") is None
    assert keys.find("pinned", "PS256") is not None
    assert keys.find("e", "ES256") is not None
    assert keys.find("e", "ES384") is None
    assert keys.find(None, "ES256") is not None
    assert keys.find(None, "RS256") is keys.by_kid["r"][0]  # the one key that fits
    assert keys.find(None, "PS256") is None  # two keys fit: no guessing


@pytest.mark.parametrize("document", [b"[]", b"not json", b'{"keys": {}}', {"nokeys": 1}])
def test_not_a_jwks(document: Any) -> None:
    """A document that is not a JWK Set raises ValueError."""
    with pytest.raises(ValueError):
        parse_jwks(document)


def test_key_count_is_bounded() -> None:
    """Only the first MAX_KEYS keys are considered."""
    keys = [rsa_jwk(kid=str(i)) for i in range(MAX_KEYS + 5)]
    assert len(parse_jwks({"keys": keys}).keys) == MAX_KEYS


def test_keys_sharing_a_kid_are_all_kept() -> None:
    """Every usable key under one kid is kept, in document order (RFC 7517 §4.5)."""
    ec = jwk_of(other_ec_key(), kid="r")
    keys = parse_jwks({"keys": [rsa_jwk(), rsa_jwk(use="enc"), ec, rsa_jwk(alg="PS256")]})
    assert [(key.kty, key.alg) for key in keys.by_kid["r"]] == [
        ("RSA", None),
        ("EC", None),
        ("RSA", "PS256"),
    ]
    assert keys.find("r", "ES256") is keys.by_kid["r"][1]
    assert keys.find("r", "PS256") is keys.by_kid["r"][0]  # the first that fits
    assert keys.find("r", "ES384") is None
