"""SignedAssertion: a self-signed JWT with the claims asked for and a fresh jti each time."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import ConfigError
from tokensources.sources._signed_assertion import SignedAssertion

pytestmark = pytest.mark.anyio

EMAIL = "builder@project.iam.gserviceaccount.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


def _source(clock: FakeClock, **overrides: Any) -> SignedAssertion:
    arguments: dict[str, Any] = {
        "issuer": EMAIL,
        "subject": EMAIL,
        "audience": GOOGLE_TOKEN_URL,
        "claims": {"scope": "https://www.googleapis.com/auth/cloud-platform"},
        "clock": clock,
    }
    arguments.update(overrides)
    return SignedAssertion(signing_keys.key("rsa"), **arguments)


async def test_claims_and_signature(clock: FakeClock) -> None:
    """The assertion carries iss, sub, aud, the extra claims, and verifies with the public key."""
    source = _source(clock, key_id="k1", lifetime=120)
    token = await source.token()
    public = signing_keys.rsa_key().public_key()
    claims = jwt.decode(
        token.access_token, public, algorithms=["RS256"], audience=GOOGLE_TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )  # fmt: skip
    assert (claims["iss"], claims["sub"]) == (EMAIL, EMAIL)
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] == pytest.approx(clock.now + 120, abs=1)
    assert claims["iat"] <= clock.now
    assert token.expires_at == claims["exp"]
    assert jwt.get_unverified_header(token.access_token)["kid"] == "k1"


async def test_fresh_jti_each_call(clock: FakeClock) -> None:
    """Every call signs a new assertion with its own jti."""
    source = _source(clock)
    jtis = set()
    for _ in range(20):
        token = await source.token()
        jtis.add(jwt.decode(token.access_token, options={"verify_signature": False})["jti"])
    assert len(jtis) == 20


async def test_subject_differs_from_issuer(clock: FakeClock) -> None:
    """Domain-wide delegation: sub names the user, iss the service account."""
    token = await _source(clock, subject="user@example.com", audience=["a", "b"]).token()
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert (claims["iss"], claims["sub"], claims["aud"]) == (EMAIL, "user@example.com", ["a", "b"])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"issuer": ""}, "issuer"),
        ({"subject": 3}, "subject"),
        ({"audience": ""}, "audience"),
        ({"audience": []}, "audience"),
        ({"claims": {"exp": 1}}, "'exp'"),
        ({"claims": {"jti": "x"}}, "'jti'"),
        ({"claims": {"when": object()}}, "JSON"),
        ({"lifetime": 0}, "lifetime"),
        ({"lifetime": 7200}, "lifetime"),
        ({"algorithm": "ES256"}, "ES256"),
        ({"headers": {"alg": "none"}}, "alg"),
    ],
)
def test_bad_input_is_a_config_error(
    clock: FakeClock, overrides: dict[str, Any], match: str
) -> None:
    """Each bad argument is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=match):
        _source(clock, **overrides)


def test_public_key_only_in_repr_and_jwks(clock: FakeClock) -> None:
    """repr and public_jwks hold no private key material."""
    source = _source(clock)
    shown = repr(source) + repr(source.public_jwks())
    for material in signing_keys.key_material(signing_keys.key("rsa")):
        assert material not in shown
    assert "d" not in source.public_jwks()["keys"][0]


def test_identity_follows_the_claims(clock: FakeClock) -> None:
    """Equal settings share an identity; another subject or audience does not."""
    assert _source(clock).cache_identity == _source(clock).cache_identity
    assert _source(clock).cache_identity != _source(clock, subject="x").cache_identity
    assert _source(clock).cache_identity != _source(clock, audience="y").cache_identity
