"""Odd proof contents and odd arguments give typed refusals, never a crash or a loose match."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier, jwk_of
from tokensources import ConfigError, DPoPKey
from tokensources._jose import sign
from tokensources.sources._dpop_key import access_token_hash
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    DPoPNonce,
    DPoPNonceError,
    DPoPProofChecker,
    DPoPProofError,
    claims_from,
)

pytestmark = pytest.mark.anyio

API = "https://api.test"
URL = API + "/messages"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _hand_made_proof(private: ec.EllipticCurvePrivateKey, clock: FakeClock, **claims: Any) -> str:
    """A proof signed by ``private`` for GET ``URL`` now, with ``claims`` set as given."""
    payload = {"jti": "j-1", "htm": "GET", "htu": URL, "iat": int(clock.now)} | claims
    header = {"typ": "dpop+jwt", "jwk": jwk_of(private, kid=None)}
    return sign(payload, private, "ES256", header)


async def _status(
    make_verifier: MakeVerifier, clock: FakeClock, token: str, proof: str
) -> tuple[int, str | None]:
    checker = DPoPProofChecker(clock=clock, algorithms=["ES256"])
    protected = BearerAuth(_app, make_verifier(), dpop=checker)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url=API
    ) as client:
        answer = await client.get(
            "/messages", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
        )
    return answer.status_code, answer.headers.get("www-authenticate")


@pytest.mark.parametrize("ath", ["é", "\u00e9" * 43, "\ud800", "a\x00"])
async def test_a_non_ascii_ath_is_an_invalid_proof_not_a_crash(
    ath: str, make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A proof whose ath holds any non-ASCII string is answered 401 invalid_dpop_proof."""
    private = ec.generate_private_key(ec.SECP256R1())
    key = DPoPKey(private, clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})

    answer = await _status(make_verifier, clock, token, _hand_made_proof(private, clock, ath=ath))

    assert answer == (401, 'DPoP error="invalid_dpop_proof", algs="ES256"')


async def test_a_non_ascii_cnf_jkt_is_a_refusal_not_a_crash(
    make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A token bound to a non-ASCII jkt, with a good proof of some key: refused, not a 500."""
    key = DPoPKey.generate(clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": "é" * 43}})

    status, _ = await _status(
        make_verifier, clock, token, key.proof("GET", URL, access_token=token)
    )

    assert status == 401


def test_the_ath_check_still_accepts_the_right_hash(clock: FakeClock) -> None:
    """The byte-wise comparison still accepts the token's own hash."""
    private = ec.generate_private_key(ec.SECP256R1())
    proof = _hand_made_proof(private, clock, ath=access_token_hash("tok"))

    verified = DPoPProofChecker(clock=clock).check(proof, "GET", URL, access_token="tok")

    assert verified.jti == "j-1"


def test_one_nonce_given_as_a_string_is_matched_whole(clock: FakeClock) -> None:
    """nonces="abcdef" accepts the nonce "abcdef" and refuses its substrings."""
    key = DPoPKey.generate(clock=clock)
    checker = DPoPProofChecker(clock=clock)

    for part in ("a", "bcd", ""):
        with pytest.raises(DPoPNonceError):
            checker.check(key.proof("GET", URL, nonce=part or None), "GET", URL, nonces="abcdef")
    verified = checker.check(key.proof("GET", URL, nonce="abcdef"), "GET", URL, nonces="abcdef")

    assert verified.nonce == "abcdef"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_age", math.nan),
        ("max_age", math.inf),
        ("max_age", 0),
        ("max_age", -1),
        ("max_age", True),
        ("leeway", math.nan),
        ("leeway", math.inf),
        ("leeway", -0.5),
    ],
)
def test_unusable_checker_windows_are_config_errors(name: str, value: Any) -> None:
    """max_age must be finite and > 0, leeway finite and >= 0."""
    with pytest.raises(ConfigError, match=name):
        DPoPProofChecker(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("grace", -0.5),
        ("grace", math.nan),
        ("grace", math.inf),
        ("lifetime", 0),
        ("lifetime", math.inf),
        ("lifetime", math.nan),
    ],
)
def test_unusable_nonce_durations_are_config_errors(name: str, value: Any) -> None:
    """DPoPNonce: lifetime finite and > 0, grace finite and >= 0."""
    with pytest.raises(ConfigError, match=name):
        DPoPNonce(**{name: value})


def test_a_refused_proof_message_never_holds_the_proof(clock: FakeClock) -> None:
    """The refusal of a non-ASCII ath names the check, not the values."""
    private = ec.generate_private_key(ec.SECP256R1())
    proof = _hand_made_proof(private, clock, ath="é-secret-ish")

    with pytest.raises(DPoPProofError) as caught:
        DPoPProofChecker(clock=clock).check(proof, "GET", URL, access_token="tok")

    assert "ath" in str(caught.value)
    assert "secret-ish" not in str(caught.value)
    assert proof not in str(caught.value)
