"""The DPoP proof check (RFC 9449 §4.3): each rule refuses by name, replays are caught once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tokensources import ConfigError, DPoPKey, InvalidTokenError
from tokensources._jose import sign
from tokensources.sources._dpop_key import access_token_hash
from tokensources.verify._dpop import (
    DPoPNonceError,
    DPoPProofChecker,
    DPoPProofError,
    DPoPReplays,
)

pytestmark = pytest.mark.anyio

URL = "https://api.example.com/v1/messages"
TOKEN = "the-access-token"


@pytest.fixture
def private() -> ec.EllipticCurvePrivateKey:
    """The P-256 key the hand-made proofs are signed with."""
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def checker(clock: FakeClock) -> DPoPProofChecker:
    """A checker on the fake clock."""
    return DPoPProofChecker(clock=clock)


def _public_jwk(private: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return jwk


def _proof(
    private: ec.EllipticCurvePrivateKey,
    clock: FakeClock,
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    base_claims = {"jti": "j-1", "htm": "GET", "htu": URL, "iat": int(clock.now)}
    base_claims |= claims or {}
    for name in drop:
        base_claims.pop(name, None)
    base_header = {"typ": "dpop+jwt", "jwk": _public_jwk(private)} | (header or {})
    return sign(base_claims, private, "ES256", base_header)


def test_a_good_proof_is_accepted_with_what_it_says(
    checker: DPoPProofChecker, private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """A proof for this method and URL, made now, passes and reports its key's thumbprint."""
    key = DPoPKey(private, clock=clock)
    verified = checker.check(
        key.proof("GET", URL + "?page=2", access_token=TOKEN, nonce="n"),
        "GET",
        URL + "?page=3",
        access_token=TOKEN,
        jkt=key.thumbprint,
        nonces=("n",),
    )
    assert verified.jkt == key.thumbprint
    assert (verified.htm, verified.htu, verified.nonce) == ("GET", URL, "n")


CASES: list[tuple[str, Callable[[Any, FakeClock], str | None], dict[str, Any], str]] = [
    ("missing", lambda k, c: None, {}, "has no DPoP proof"),
    ("not-a-jws", lambda k, c: "a.b", {}, "not a compact JWS"),
    ("garbage-header", lambda k, c: "!!.e30.sig", {}, "header is not readable"),
    ("typ-jwt", lambda k, c: _proof(k, c, header={"typ": "JWT"}), {}, "typ is not dpop"),
    ("no-jwk", lambda k, c: _proof(k, c, header={"jwk": None}), {}, "has no jwk"),
    (
        "private-jwk",
        lambda k, c: _proof(k, c, header={"jwk": {**_public_jwk(k), "d": "AAAA"}}),
        {},
        "private key members",
    ),
    (
        "other-key",
        lambda k, c: _proof(
            k, c, header={"jwk": _public_jwk(ec.generate_private_key(ec.SECP256R1()))}
        ),
        {},
        "signature does not verify",
    ),
    ("htm", lambda k, c: _proof(k, c, claims={"htm": "POST"}), {}, "htm"),
    ("htm-case", lambda k, c: _proof(k, c, claims={"htm": "get"}), {}, "htm"),
    ("htu", lambda k, c: _proof(k, c, claims={"htu": URL + "/other"}), {}, "htu"),
    ("htu-host", lambda k, c: _proof(k, c, claims={"htu": "https://evil.example/v1"}), {}, "htu"),
    ("htu-not-url", lambda k, c: _proof(k, c, claims={"htu": "nonsense"}), {}, "htu"),
    ("no-jti", lambda k, c: _proof(k, c, drop=("jti",)), {}, "jti"),
    ("no-iat", lambda k, c: _proof(k, c, drop=("iat",)), {}, "numeric iat"),
    ("iat-text", lambda k, c: _proof(k, c, claims={"iat": "now"}), {}, "numeric iat"),
    ("future", lambda k, c: _proof(k, c, claims={"iat": c.now + 30}), {}, "future"),
    ("old", lambda k, c: _proof(k, c, claims={"iat": c.now - 120}), {}, "too old"),
    ("no-ath", _proof, {"access_token": TOKEN}, "ath"),
    (
        "wrong-ath",
        lambda k, c: _proof(k, c, claims={"ath": access_token_hash("other")}),
        {"access_token": TOKEN},
        "ath",
    ),
    ("wrong-jkt", _proof, {"jkt": "another-thumbprint"}, "bound to"),
]


@pytest.mark.parametrize(
    ("make", "options", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_each_rule_refuses_with_invalid_dpop_proof(
    checker: DPoPProofChecker,
    private: ec.EllipticCurvePrivateKey,
    clock: FakeClock,
    make: Callable[[Any, FakeClock], str | None],
    options: dict[str, Any],
    words: str,
) -> None:
    """Every failed check is an invalid_dpop_proof error whose message names the check."""
    with pytest.raises(DPoPProofError, match=words) as caught:
        checker.check(make(private, clock), "GET", URL, **options)
    assert caught.value.error == "invalid_dpop_proof"
    assert not isinstance(caught.value, DPoPNonceError)
    assert isinstance(caught.value, InvalidTokenError)
    assert TOKEN not in str(caught.value)
    assert caught.value.__context__ is None


def test_hmac_and_none_are_never_accepted(
    checker: DPoPProofChecker, private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """A proof "signed" with HS256 or alg none is refused by its algorithm."""
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": int(clock.now)}
    header = {"typ": "dpop+jwt", "jwk": _public_jwk(private)}
    for proof in (
        jwt.encode(claims, "k" * 32, algorithm="HS256", headers=header),
        jwt.encode(claims, "", algorithm="none", headers=header),
    ):
        with pytest.raises(DPoPProofError, match="algorithm is not accepted"):
            checker.check(proof, "GET", URL)


def test_a_missing_or_stale_nonce_asks_for_the_current_one(
    checker: DPoPProofChecker, private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """Nonces demanded: no nonce or an old one is use_dpop_nonce, not invalid_dpop_proof."""
    for claims, words in (({}, "lacks the nonce"), ({"nonce": "old"}, "not current")):
        with pytest.raises(DPoPNonceError, match=words) as caught:
            checker.check(_proof(private, clock, claims=claims), "GET", URL, nonces=("new",))
        assert caught.value.error == "use_dpop_nonce"


def test_a_replayed_proof_is_refused_once_seen(
    checker: DPoPProofChecker, private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """The same proof twice: accepted, then refused as a replay."""
    proof = _proof(private, clock)
    checker.check(proof, "GET", URL)
    with pytest.raises(DPoPProofError, match="used before"):
        checker.check(proof, "GET", URL)


def test_a_proof_refused_for_another_reason_does_not_burn_its_jti(
    checker: DPoPProofChecker, private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """A proof that lacked the nonce leaves its jti usable: the replay memory is written last."""
    proof = _proof(private, clock)
    with pytest.raises(DPoPNonceError):
        checker.check(proof, "GET", URL, nonces=("n",))
    assert checker.check(proof, "GET", URL).jti == "j-1"


def test_a_jti_is_forgotten_once_its_proof_is_too_old_anyway(
    private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """Old entries give way, live ones never: a full memory refuses until its ids expire."""
    replays = DPoPReplays(max_entries=10)
    checker = DPoPProofChecker(clock=clock, replays=replays, max_age=60, leeway=0)
    key = DPoPKey(private, clock=clock)
    for _ in range(10):
        checker.check(key.proof("GET", URL), "GET", URL)
    with pytest.raises(DPoPProofError, match="replay memory is full"):
        checker.check(key.proof("GET", URL), "GET", URL)
    assert len(replays) == 10
    clock.advance(61)
    checker.check(key.proof("GET", URL), "GET", URL)
    assert len(replays) == 1


async def test_one_replay_memory_serves_concurrent_requests(
    private: ec.EllipticCurvePrivateKey, clock: FakeClock
) -> None:
    """Fifty concurrent checks of one proof: exactly one passes, forty-nine are replays."""
    checker = DPoPProofChecker(clock=clock)
    proof = _proof(private, clock)
    outcomes: list[str] = []

    async def check() -> None:
        await anyio.lowlevel.checkpoint()
        try:
            await anyio.to_thread.run_sync(checker.check, proof, "GET", URL)
        except DPoPProofError:
            outcomes.append("replay")
        else:
            outcomes.append("ok")

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(check)

    assert outcomes.count("ok") == 1
    assert outcomes.count("replay") == 49


def test_bad_checker_settings_are_refused() -> None:
    """Symmetric algorithms, negative windows and empty replay memories are refused."""
    with pytest.raises(ConfigError):
        DPoPProofChecker(algorithms=("HS256",))
    with pytest.raises(ConfigError):
        DPoPProofChecker(algorithms="ES256")
    with pytest.raises(ConfigError):
        DPoPProofChecker(max_age=-1)
    with pytest.raises(ConfigError):
        DPoPReplays(max_entries=0)
