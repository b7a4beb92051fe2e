"""The DPoP replay memory never forgets a live proof id: when full it refuses new proofs instead."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier, jwk_of
from tokensources import DPoPKey
from tokensources._jose import sign
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, DPoPProofChecker, DPoPProofError, claims_from
from tokensources.verify._dpop import DPoPReplays

pytestmark = pytest.mark.anyio

API = "https://api.test"
URL = API + "/pay"
SIZE = 50


def _checker(clock: FakeClock, size: int = SIZE) -> DPoPProofChecker:
    """A checker on the fake clock with a small replay memory (proof ids kept 60 s)."""
    return DPoPProofChecker(
        clock=clock, max_age=60, leeway=0, replays=DPoPReplays(max_entries=size)
    )


def _outcome(checker: DPoPProofChecker, key: DPoPKey) -> str:
    """Check a fresh proof of ``key``: "accepted", "full" (the memory refused it) or why not."""
    try:
        checker.check(key.proof("POST", URL), "POST", URL, jkt=key.thumbprint)
    except DPoPProofError as refused:
        return "full" if "replay memory is full" in str(refused) else str(refused)
    return "accepted"


def test_a_replay_after_the_memory_filled_up_is_still_refused(clock: FakeClock) -> None:
    """A captured proof, then more live proofs than the memory holds: the replay is refused."""
    victim, attacker = DPoPKey.generate(clock=clock), DPoPKey.generate(clock=clock)
    checker = _checker(clock)
    stolen = victim.proof("POST", URL, access_token="victim-token")
    checker.check(stolen, "POST", URL, access_token="victim-token", jkt=victim.thumbprint)
    outcomes = [_outcome(checker, attacker) for _ in range(SIZE * 2)]

    with pytest.raises(DPoPProofError, match="used before"):
        checker.check(stolen, "POST", URL, access_token="victim-token", jkt=victim.thumbprint)
    assert (outcomes.count("accepted"), outcomes.count("full")) == (SIZE - 1, SIZE + 1)


def test_a_full_memory_refuses_new_proofs_counts_them_and_warns_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Full of live ids: each new proof is refused saying so, counted, and logged once."""
    key = DPoPKey.generate(clock=clock)
    checker = _checker(clock)
    for _ in range(SIZE):
        checker.check(key.proof("GET", URL), "GET", URL)
    caplog.set_level(logging.WARNING, logger="tokensources")

    for _ in range(3):
        with pytest.raises(DPoPProofError, match="replay memory is full"):
            checker.check(key.proof("GET", URL), "GET", URL)

    assert checker.replays.refused_full == 3
    warnings = [r for r in caplog.records if "replay memory is full" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert len(checker.replays) == SIZE


def test_expired_ids_make_room_again(clock: FakeClock) -> None:
    """Once the remembered proofs are too old to be accepted anyway, new proofs pass again."""
    key = DPoPKey.generate(clock=clock)
    checker = _checker(clock)
    for _ in range(SIZE):
        checker.check(key.proof("GET", URL), "GET", URL)
    with pytest.raises(DPoPProofError, match="full"):
        checker.check(key.proof("GET", URL), "GET", URL)

    clock.advance(60)
    checker.check(key.proof("GET", URL), "GET", URL)

    assert len(checker.replays) == 1


def test_an_expired_id_behind_a_live_one_is_forgotten_too(clock: FakeClock) -> None:
    """Ids expire in the order of their proofs' iat, not of arrival: an old one goes first."""
    private = ec.generate_private_key(ec.SECP256R1())
    header = {"typ": "dpop+jwt", "jwk": jwk_of(private, kid=None)}
    checker = _checker(clock, size=2)

    def proof(jti: str, age: int) -> str:
        claims = {"jti": jti, "htm": "GET", "htu": URL, "iat": int(clock.now) - age}
        return sign(claims, private, "ES256", header)

    checker.check(proof("fresh", 0), "GET", URL)  # kept 60 s
    checker.check(proof("old", 50), "GET", URL)  # kept 10 s
    clock.advance(11)

    checker.check(proof("third", 0), "GET", URL)

    assert len(checker.replays) == 2
    with pytest.raises(DPoPProofError, match="used before"):
        checker.check(proof("fresh", 11), "GET", URL)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_bearer_auth_answers_a_full_memory_with_a_dpop_challenge(
    make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Through the middleware: the proofs that fit are served, the next are 401 DPoP."""
    key = DPoPKey.generate(clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})
    protected = BearerAuth(_app, make_verifier(), dpop=_checker(clock, size=3))
    statuses: list[int] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url=API
    ) as client:
        for _ in range(5):
            proof = key.proof("GET", URL, access_token=token)
            answer = await client.get(
                "/pay", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
            )
            statuses.append(answer.status_code)
        challenge = answer.headers["www-authenticate"]

    assert statuses == [200, 200, 200, 401, 401]
    assert challenge.startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in challenge
