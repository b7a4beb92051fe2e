"""Fixtures for the verifier tests: a testing server on a fake clock, and forgers."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.support.clock import FakeClock
from tests.support.introspection_world import IntrospectionWorld, make_world
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

MakeVerifier = Callable[..., JWTVerifier]


@pytest.fixture
def make_verifier(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> MakeVerifier:
    """Build a verifier for the testing server (discovery over the in-process client)."""

    def make(**kwargs: Any) -> JWTVerifier:
        kwargs.setdefault("http", http)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("allow_insecure_http", True)
        audience = kwargs.pop("audience", server.audience)
        return JWTVerifier(server.issuer, audience, **kwargs)

    return make


@pytest.fixture
def world(clock: FakeClock) -> IntrospectionWorld:
    """An introspection endpoint of its own issuer, on the fake clock."""
    return make_world(clock)


def b64(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: dict[str, Any]) -> str:
    """One JSON segment of a compact JWS."""
    return b64(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a token, unverified."""
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    return header, payload


def resign(token: str, key: Any, algorithm: str = "RS256", **header: Any) -> str:
    """The same claims and header (with changes) signed with another key."""
    old_header, payload = parts(token)
    return jwt.encode(payload, key, algorithm=algorithm, headers={**old_header, **header})


def hs256_with_public_key(token: str, server: AuthorizationServer) -> str:
    """The classic confusion attack: HS256 keyed with the issuer's public key PEM."""
    header, payload = parts(token)
    public = RSAAlgorithm.from_jwk(json.dumps(server.jwks()["keys"][0]))
    pem = public.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment({**header, 'alg': 'HS256'})}.{segment(payload)}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def unsigned(token: str) -> str:
    """The same claims with ``alg: none`` and an empty signature."""
    header, payload = parts(token)
    return f"{segment({**header, 'alg': 'none'})}.{segment(payload)}."


@functools.cache
def unpublished_key() -> rsa.RSAPrivateKey:
    """One RSA key the issuer never published, shared (key generation is slow)."""
    return other_rsa_key()


def other_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA key the issuer never published."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def other_ec_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key the issuer never published."""
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, kid: str | None
) -> dict[str, Any]:
    """The public JWK of a private key, with an optional kid."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    if kid is not None:
        jwk["kid"] = kid
    return jwk
