"""PrivateKeyJWT key loading, refusals and assertion contents, without a server."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.x509.oid import NameOID

from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import ConfigError
from tokensources._jose import jwk_thumbprint
from tokensources.sources._private_key_jwt import PrivateKeyJWT

TOKEN_URL = "https://auth.example.test/oauth/token"
CLIENT_ID = "jwt-client"
WRONG_PASSWORD = "n0t-the-p4ssw0rd"


def build(private_key: Any, **kwargs: Any) -> PrivateKeyJWT:
    return PrivateKeyJWT(TOKEN_URL, CLIENT_ID, private_key, **kwargs)


def certificate_pem() -> bytes:
    """A self-signed certificate for the RSA test key."""
    private = signing_keys.rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt-client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def garbled_pem() -> bytes:
    lines = signing_keys.pem(signing_keys.key("rsa")).splitlines()
    lines[5] = b"!!!!" + lines[5][4:]
    return b"\n".join(lines[:8] + lines[-1:])


def refusal_cases() -> list[Any]:
    rsa = signing_keys.rsa_key()
    p256 = signing_keys.key("p256")
    public_jwk = signing_keys.public_jwk(rsa)
    enc = signing_keys.encode("rsa", "pem-encrypted")[0]
    return [
        pytest.param(
            rsa,
            {"algorithm": "ES256"},
            "ES256 needs an EC key on curve secp256r1",
            id="rsa-for-es256",
        ),
        pytest.param(p256, {"algorithm": "ES384"}, "curve secp384r1", id="p256-for-es384"),
        pytest.param(p256, {"algorithm": "RS256"}, "RS256 needs an RSA key", id="ec-for-rs256"),
        pytest.param(
            signing_keys.key("ed25519"),
            {"algorithm": "PS256"},
            "needs an RSA key",
            id="ed-for-ps256",
        ),
        pytest.param(rsa, {"algorithm": "EdDSA"}, "needs an Ed25519 key", id="rsa-for-eddsa"),
        pytest.param(rsa, {"algorithm": "HS256"}, "algorithm must be one of", id="hs256"),
        pytest.param(rsa, {"algorithm": "none"}, "algorithm must be one of", id="none"),
        pytest.param(signing_keys.key("rsa-small"), {}, "at least 2048 bits", id="rsa-1024"),
        pytest.param(signing_keys.key("p521"), {}, "ES256 needs secp256r1", id="p521"),
        pytest.param(signing_keys.key("ed448"), {}, "use an RSA, EC", id="ed448"),
        pytest.param(x25519.X25519PrivateKey.generate(), {}, "use an RSA, EC", id="x25519"),
        pytest.param(rsa.public_key(), {}, "is an RSA public key", id="public-object"),
        pytest.param(signing_keys.public_pem(rsa), {}, "is a public key", id="public-pem"),
        pytest.param(certificate_pem(), {}, "is a certificate", id="certificate"),
        pytest.param(garbled_pem(), {}, "not a readable PEM", id="garbled-pem"),
        pytest.param(b"not a key at all", {}, "no -----BEGIN line", id="not-pem"),
        pytest.param(
            enc, {"key_password": WRONG_PASSWORD}, "does not decrypt", id="wrong-password"
        ),
        pytest.param(enc, {}, "is encrypted: pass key_password", id="no-password"),
        pytest.param(
            signing_keys.pem(rsa),
            {"key_password": "pw"},
            "is not encrypted",
            id="needless-password",
        ),
        pytest.param(
            signing_keys.private_jwk(rsa), {"key_password": "pw"}, "applies only", id="jwk-password"
        ),
        pytest.param(public_jwk, {}, "is a public key", id="public-jwk"),
        pytest.param({"keys": [public_jwk]}, {}, "is a JWK set", id="jwk-set"),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, {}, "unsupported kty 'oct'", id="oct-jwk"),
        pytest.param(
            signing_keys.private_jwk(rsa) | {"alg": "PS256"},
            {"algorithm": "RS256"},
            "contradicts",
            id="jwk-alg",
        ),
        pytest.param(
            signing_keys.private_jwk(rsa) | {"use": "enc"},
            {},
            "not meant for signatures",
            id="jwk-enc",
        ),
        pytest.param(
            signing_keys.private_jwk(rsa) | {"n": "%%%"}, {}, "not a valid RSA key", id="jwk-broken"
        ),
        pytest.param('{"kty": "RSA", "d": ', {}, "not a valid JWK", id="jwk-json-broken"),
        pytest.param(
            json.dumps(signing_keys.private_jwk(rsa))[:-1] + ",}",
            {},
            "not a valid JWK",
            id="jwk-json-trailing-comma",
        ),
        pytest.param(
            signing_keys.encode("rsa", "pem-encrypted")[0],
            {"key_password": signing_keys.PASSWORD + "x"},
            "does not decrypt",
            id="almost-the-password",
        ),
        pytest.param(42, {}, "not int", id="int"),
        pytest.param(rsa, {"key_id": ""}, "key_id", id="empty-kid"),
        pytest.param(rsa, {"assertion_lifetime": 0}, "assertion_lifetime", id="zero-lifetime"),
        pytest.param(rsa, {"assertion_lifetime": 7200}, "assertion_lifetime", id="long-lifetime"),
        pytest.param(
            rsa, {"assertion_lifetime": float("nan")}, "assertion_lifetime", id="nan-lifetime"
        ),
        pytest.param(rsa, {"assertion_audience": []}, "assertion_audience", id="empty-audiences"),
        pytest.param(rsa, {"assertion_audience": ""}, "assertion_audience", id="empty-audience"),
        pytest.param(
            rsa, {"assertion_headers": {"alg": "none"}}, "use algorithm=", id="header-alg"
        ),
        pytest.param(rsa, {"assertion_headers": {"kid": "k"}}, "use key_id=", id="header-kid"),
        pytest.param(rsa, {"key_password": 1234}, "key_password must be", id="password-type"),
        pytest.param(rsa, {"key_password": "pw"}, "applies only", id="object-password"),
        pytest.param(
            signing_keys.private_jwk(rsa) | {"alg": 256}, {}, "must be a string", id="jwk-alg-type"
        ),
        pytest.param(
            signing_keys.private_jwk(rsa) | {"kid": ""}, {}, '"kid" must be', id="jwk-kid-empty"
        ),
        pytest.param(
            rsa, {"assertion_headers": {"x5c": ["a"]}}, "assertion_headers", id="header-list"
        ),
    ]


@pytest.mark.parametrize(("private_key", "kwargs", "problem"), refusal_cases())
def test_unusable_keys_are_refused_without_key_material(
    private_key: Any, kwargs: dict[str, Any], problem: str
) -> None:
    """Each unusable key or setting is a ConfigError naming the problem and showing no key."""
    with pytest.raises(ConfigError) as caught:
        build(private_key, **kwargs)
    message = str(caught.value)
    assert problem in message
    # No lower-level error rides along, not even a suppressed __context__: a
    # JSONDecodeError keeps the whole input (the key) in its .doc.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    secrets = [
        *signing_keys.key_material(signing_keys.key("rsa")),
        *signing_keys.key_material(signing_keys.key("p256")),
        signing_keys.PASSWORD,
        WRONG_PASSWORD,
    ]
    for secret in secrets:
        assert secret not in message
        assert secret not in repr(caught.value)


@pytest.mark.parametrize(
    ("key_name", "expected"),
    [("rsa", "RS256"), ("p256", "ES256"), ("p384", "ES384"), ("ed25519", "EdDSA")],
)
def test_algorithm_defaults_to_what_the_key_implies(key_name: str, expected: str) -> None:
    """Without an algorithm, the key type and curve decide it."""
    assert build(signing_keys.key(key_name)).algorithm == expected


def test_a_jwk_supplies_its_own_alg_and_kid() -> None:
    """A JWK's alg and kid are used unless overridden; key_id wins over the JWK's kid."""
    jwk = signing_keys.private_jwk(signing_keys.key("rsa")) | {"alg": "PS256", "kid": "k1"}
    source = build(jwk)
    assert (source.algorithm, source.key_id) == ("PS256", "k1")
    assert build(jwk, key_id="k2").key_id == "k2"
    assert build(json.dumps(jwk)).key_id == "k1"


def test_pem_keys_send_no_kid_unless_given() -> None:
    """A PEM key has no kid of its own; key_id sets one."""
    pem = signing_keys.pem(signing_keys.key("p256"))
    assert build(pem).key_id is None
    assert build(pem, key_id="2024-01").key_id == "2024-01"


# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_JWK = {
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


def test_thumbprint_matches_the_rfc_7638_example() -> None:
    """The thumbprint of the RFC 7638 example key is the one the RFC gives."""
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("key_name", signing_keys.KEY_NAMES)
def test_public_jwks_holds_only_the_public_key(key_name: str) -> None:
    """public_jwks() has one public JWK with kid, alg and use, and nothing private."""
    private = signing_keys.key(key_name)
    source = build(private)
    (jwk,) = source.public_jwks()["keys"]
    expected = signing_keys.public_jwk(private)
    assert {k: v for k, v in jwk.items() if k in expected} == expected
    assert jwk["alg"] == source.algorithm
    assert jwk["use"] == "sig"
    assert jwk["kid"] == jwk_thumbprint(jwk)
    assert set(jwk) == {*expected, "kid", "alg", "use"}
    text = json.dumps(source.public_jwks())
    for fragment in signing_keys.key_material(private):
        assert fragment not in text


def test_public_jwks_uses_the_key_id() -> None:
    """With a key_id, the published kid is that key_id."""
    source = build(signing_keys.key("p256"), key_id="2024-01")
    assert source.public_jwks()["keys"][0]["kid"] == "2024-01"


def test_repr_shows_configuration_but_no_key() -> None:
    """The repr names the client and algorithm, never key material or the password."""
    material, password = signing_keys.encode("rsa", "pem-encrypted")
    source = build(material, key_password=password, key_id="k1")
    text = repr(source)
    assert "jwt-client" in text
    assert "RS256" in text
    assert "k1" in text
    for fragment in [*signing_keys.key_material(signing_keys.key("rsa")), signing_keys.PASSWORD]:
        assert fragment not in text
        assert fragment not in repr(vars(source))


def test_cache_identity_follows_the_public_key_not_its_format() -> None:
    """Every format of one key gives one identity; another key, alg or kid gives another."""
    identities = {
        build(
            signing_keys.encode("rsa", fmt)[0], key_password=signing_keys.encode("rsa", fmt)[1]
        ).cache_identity
        for fmt in signing_keys.KEY_FORMATS
    }
    assert len(identities) == 1
    (identity,) = identities
    others = [
        build(signing_keys.key("rsa-other")).cache_identity,
        build(signing_keys.key("rsa"), algorithm="PS256").cache_identity,
        build(signing_keys.key("rsa"), key_id="k1").cache_identity,
        build(signing_keys.key("rsa"), scopes=["read:messages"]).cache_identity,
        build(signing_keys.key("rsa"), audience="https://api.example.com").cache_identity,
    ]
    assert identity not in others
    assert len(set(others)) == len(others)
    for fragment in signing_keys.key_material(signing_keys.key("rsa")):
        assert fragment not in identity


def test_the_assertion_claims_follow_rfc_7523(clock: FakeClock) -> None:
    """iss = sub = client id, aud = token URL, backdated iat/nbf, exp after lifetime, new jti."""
    clock.now += 0.25
    source = build(signing_keys.key("rsa"), clock=clock, assertion_lifetime=30)
    first, second = source.assertion_claims(), source.assertion_claims()
    assert first["iss"] == first["sub"] == CLIENT_ID
    assert first["aud"] == TOKEN_URL
    assert first["iat"] == first["nbf"] == int(clock.now) - 5
    assert first["exp"] == int(clock.now) + 31
    assert first["jti"] != second["jti"]
    assert len(first["jti"]) >= 32


def test_a_pem_bundle_of_certificate_and_key_loads_the_key() -> None:
    """A PEM file holding the certificate and then the private key yields the key."""
    bundle = certificate_pem() + signing_keys.pem(signing_keys.key("rsa"))
    assert build(bundle).cache_identity == build(signing_keys.key("rsa")).cache_identity
