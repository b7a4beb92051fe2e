"""``verify_signature`` parses compact JWS itself and refuses every malformed shape."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tokensources._jose import sign, verify_signature

_KEY = ec.generate_private_key(ec.SECP256R1())
_PUBLIC = _KEY.public_key()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parts() -> list[str]:
    return sign({"sub": "svc"}, _KEY, "ES256").split(".")


def test_a_good_token_gives_its_payload() -> None:
    """The round trip works, so every refusal below is about the change made to it."""
    assert json.loads(verify_signature(".".join(_parts()), _PUBLIC, "ES256")) == {"sub": "svc"}


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "a.b.",  # no signature
        "a!.b.c",  # outside the base64url alphabet
        "a.b.c=",  # padding is not part of compact JWS
        " a.b.c",
    ],
)
def test_shapes_that_are_not_compact_jws_are_refused(token: str) -> None:
    """Anything but three base64url parts with a signature is a DecodeError."""
    with pytest.raises(jwt.DecodeError):
        verify_signature(token, _PUBLIC, "ES256")


def test_a_non_canonical_encoding_is_refused() -> None:
    """A signature whose last character sets unused bits does not round-trip: refused."""
    header, payload, signature = _parts()
    # 64 bytes encode to 86 characters; the last carries 4 unused bits.
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tweaked = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(jwt.DecodeError):
        verify_signature(f"{header}.{payload}.{signature[:-1]}{tweaked}", _PUBLIC, "ES256")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b"not json", jwt.DecodeError),
        (b"\xff\xfe", jwt.DecodeError),
        (b"[1]", jwt.DecodeError),
        (json.dumps({"alg": "ES384"}).encode(), jwt.InvalidAlgorithmError),
        (json.dumps({"alg": "ES256", "b64": False}).encode(), jwt.DecodeError),
        (json.dumps({"alg": "ES256", "crit": ["exp"]}).encode(), jwt.DecodeError),
    ],
)
def test_headers_that_cannot_be_trusted_are_refused(header: bytes, error: type[Exception]) -> None:
    """A header that is not a JSON object, names another algorithm or an extension: refused."""
    _, payload, signature = _parts()
    with pytest.raises(error):
        verify_signature(f"{_b64(header)}.{payload}.{signature}", _PUBLIC, "ES256")


def test_a_changed_payload_fails_the_signature() -> None:
    """The signature covers header and payload as sent."""
    header, _, signature = _parts()
    payload = _b64(json.dumps({"sub": "admin"}).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        verify_signature(f"{header}.{payload}.{signature}", _PUBLIC, "ES256")


def test_a_signature_of_the_wrong_length_fails() -> None:
    """A truncated ES256 signature is a failed check, not a crash."""
    header, payload, signature = _parts()
    with pytest.raises(jwt.InvalidSignatureError):
        verify_signature(f"{header}.{payload}.{signature[:40]}", _PUBLIC, "ES256")
