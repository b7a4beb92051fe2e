"""DPoPKey: every way to build one, the proofs it signs, and that it never shows its key."""

from __future__ import annotations

import copy
import gc
import json
import pickle
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.clock import FakeClock
from tokensources import ConfigError, DPoPKey
from tokensources._jose import jwk_thumbprint
from tokensources.sources._dpop_key import (
    DPOP_ALGORITHMS,
    access_token_hash,
    loaded_key,
    target_uri,
)
from tokensources.verify._dpop import DPoPProofChecker

URL = "https://api.example.com/v1/messages"


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _header_and_claims(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(proof), jwt.decode(proof, options={"verify_signature": False})


@pytest.mark.parametrize("algorithm", DPOP_ALGORITHMS)
def test_a_generated_key_signs_proofs_its_embedded_jwk_verifies(algorithm: str) -> None:
    """Each algorithm generates a key whose proofs verify with the public JWK they carry."""
    key = DPoPKey.generate(algorithm)
    proof = key.proof("POST", URL)
    header, _ = _header_and_claims(proof)

    verified = DPoPProofChecker().check(proof, "POST", URL)

    assert key.algorithm == algorithm
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == algorithm
    assert header["jwk"] == key.public_jwk()
    assert verified.jkt == key.thumbprint == jwk_thumbprint(key.public_jwk())


def test_generate_defaults_to_es256() -> None:
    """DPoPKey.generate() without arguments makes a P-256 ES256 key."""
    key = DPoPKey.generate()
    assert key.algorithm == "ES256"
    assert key.public_jwk()["crv"] == "P-256"


@pytest.mark.parametrize(
    ("make", "implied"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    ],
    ids=["P-256", "P-384", "Ed25519", "RSA"],
)
@pytest.mark.parametrize("form", ["object", "pem", "pem-text", "jwk", "jwk-json"])
def test_every_key_form_loads_and_implies_its_algorithm(make: Any, implied: str, form: str) -> None:
    """A key object, PEM (bytes or text) and a private JWK (dict or JSON) give the same key."""
    private = make()
    reference = DPoPKey(private)
    jwk_text = jwt.algorithms.get_default_algorithms()[
        "EdDSA" if implied == "EdDSA" else implied
    ].to_jwk(private)
    given: Any = {
        "object": private,
        "pem": _pem(private),
        "pem-text": _pem(private).decode(),
        "jwk": json.loads(jwk_text),
        "jwk-json": jwk_text,
    }[form]

    key = DPoPKey(given)

    assert key.algorithm == implied
    assert key.thumbprint == reference.thumbprint


def test_an_rsa_key_may_sign_ps256() -> None:
    """An RSA key signs PS256 when asked to."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = DPoPKey(private, algorithm="PS256")
    assert _header_and_claims(key.proof("GET", URL))[0]["alg"] == "PS256"


@pytest.mark.parametrize(
    ("given", "algorithm", "words"),
    [
        (ec.generate_private_key(ec.SECP256R1()).public_key(), None, "private key"),
        (ec.generate_private_key(ec.SECP256R1()), "RS256", "needs an RSA key"),
        (ec.generate_private_key(ec.SECP256R1()), "ES384", "secp384r1"),
        (ed25519.Ed25519PrivateKey.generate(), "ES256", "needs an EC key"),
        (ec.generate_private_key(ec.SECP256R1()), "HS256", "must be one of"),
        (ec.generate_private_key(ec.SECP256R1()), "none", "must be one of"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", None, "public key"),
        (b"not a key", None, "not a PEM"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, None, "public key"),
        (42, None, "must be PEM"),
    ],
    ids=[
        "public-key-object",
        "ec-for-rs256",
        "p256-for-es384",
        "ed25519-for-es256",
        "hmac",
        "none",
        "public-pem",
        "garbage",
        "public-jwk",
        "wrong-type",
    ],
)
def test_a_key_that_cannot_sign_is_a_config_error(
    given: Any, algorithm: str | None, words: str
) -> None:
    """A public key only, or a key that does not fit the algorithm, is refused by name."""
    with pytest.raises(ConfigError, match=words):
        DPoPKey(given, algorithm=algorithm)


def test_a_jwk_whose_alg_dpop_does_not_take_is_refused() -> None:
    """A JWK naming an algorithm outside DPoP's set (RS512) is refused, not silently used."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private))
    jwk["alg"] = "RS512"
    with pytest.raises(ConfigError, match="RS512"):
        DPoPKey(jwk)


def test_generate_refuses_an_unknown_algorithm() -> None:
    """generate() names the algorithms it takes."""
    with pytest.raises(ConfigError, match="ES256"):
        DPoPKey.generate("HS256")


def test_no_key_material_in_repr_errors_or_pickles() -> None:
    """repr shows algorithm and thumbprint only; pickling and copying are refused."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = DPoPKey(private)
    d = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private))["d"]
    text = repr(key) + str(key)

    assert key.thumbprint in text
    assert d not in text
    assert "PRIVATE" not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)


def test_a_refused_jwk_never_quotes_its_private_member() -> None:
    """A damaged private JWK is refused without echoing ``d``."""
    secret_d = "c2VjcmV0LXByaXZhdGUtbWVtYmVy"
    with pytest.raises(ConfigError) as caught:
        DPoPKey({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": secret_d})
    assert secret_d not in str(caught.value)
    assert caught.value.__context__ is None


def test_a_proof_has_every_claim_rfc_9449_asks_for() -> None:
    """jti, htm, htu, iat always; ath and nonce when given; a fresh jti every time."""
    clock = FakeClock()
    key = DPoPKey.generate(clock=clock)

    first = _header_and_claims(key.proof("POST", URL))[1]
    second = _header_and_claims(key.proof("GET", URL, access_token="tok", nonce="n-1"))[1]

    assert set(first) == {"jti", "htm", "htu", "iat"}
    assert first["htm"] == "POST"
    assert first["htu"] == URL
    assert first["iat"] == int(clock.now)
    assert second["ath"] == access_token_hash("tok")
    assert second["nonce"] == "n-1"
    assert first["jti"] != second["jti"]
    assert len({_header_and_claims(key.proof("POST", URL))[1]["jti"] for _ in range(50)}) == 50


def test_ath_is_the_base64url_sha256_of_the_token() -> None:
    """RFC 9449 §4.2 example: the ath of a known token."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("https://api.example.com/v1?x=1#frag", "https://api.example.com/v1"),
        ("HTTPS://API.Example.COM/Path", "https://api.example.com/Path"),
        ("https://api.example.com:443/a", "https://api.example.com/a"),
        ("http://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com:8443/a", "https://api.example.com:8443/a"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com/a%2Fb%20c", "https://api.example.com/a%2Fb%20c"),
        ("https://user:pw@api.example.com/a", "https://api.example.com/a"),
        ("https://[::1]:8080/a", "https://[::1]:8080/a"),
    ],
)
def test_htu_is_scheme_host_port_and_path(url: str, htu: str) -> None:
    """No query, no fragment, no user info; case and default ports normalised; escapes kept."""
    assert target_uri(url) == htu
    assert _header_and_claims(DPoPKey.generate().proof("GET", url))[1]["htu"] == htu


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("", URL, {}),
        ("GET POST", URL, {}),
        ("GET", "ftp://example.com/a", {}),
        ("GET", "/relative", {}),
        ("GET", URL, {"nonce": ""}),
        ("GET", URL, {"access_token": "tök"}),
    ],
    ids=["empty-method", "spaced-method", "ftp", "relative", "empty-nonce", "non-ascii-token"],
)
def test_bad_proof_input_is_a_config_error(method: str, url: str, kwargs: dict[str, str]) -> None:
    """What cannot go into a proof is refused before anything is signed."""
    with pytest.raises(ConfigError):
        DPoPKey.generate().proof(method, url, **kwargs)


def test_a_bound_token_finds_its_key_while_the_key_is_loaded() -> None:
    """loaded_key(jkt) is the loaded key with that thumbprint; a key no one holds is gone."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = DPoPKey(private)
    same = DPoPKey(_pem(private))  # the same key loaded again (another source, say)

    assert loaded_key(key.thumbprint) in (key, same)
    del key, same
    gc.collect()
    assert (
        loaded_key(jwk_thumbprint(json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private)))) is None
    )


@pytest.mark.parametrize(
    ("url", "nonce"),
    [
        ('https://api.example/a"b\\c', 'n"1\\'),
        ("https://api.example/caf\u00e9", "\u00e9t\u00e9\u2028"),
        ("https://api.example/%22/", "\x00\x1f"),
    ],
)
def test_claims_that_need_json_escaping_survive_the_proof(url: str, nonce: str) -> None:
    """Whatever a URL path or a server's nonce holds, the proof is valid JSON that says it back."""
    key = DPoPKey.generate()
    for _ in range(2):  # once made, once from the remembered quoting
        claims = _header_and_claims(key.proof("GET", url, nonce=nonce))[1]
        assert claims["htu"] == target_uri(url)
        assert claims["nonce"] == nonce
