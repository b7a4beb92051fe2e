"""The testing server's DPoP token endpoint, seen over HTTP: answers, headers and counters."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import DPoPKey
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._dpop import TokenEndpointDPoP

pytestmark = pytest.mark.anyio

FORM = {"grant_type": "client_credentials"}


async def _post(
    http: httpx.AsyncClient, server: AuthorizationServer, proof: str | None
) -> httpx.Response:
    headers = {"DPoP": proof} if proof is not None else {}
    return await http.post(
        server.token_endpoint,
        data=FORM,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        headers=headers,
    )


async def test_nonces_are_sent_on_every_answer_and_demanded(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """With nonces on: 400 use_dpop_nonce with DPoP-Nonce, then 200 with it, no-store both times."""
    dpop.require_nonce = True
    key = DPoPKey.generate(clock=clock)

    refused = await _post(http, server, key.proof("POST", server.token_endpoint))
    nonce = refused.headers["dpop-nonce"]
    issued = await _post(http, server, key.proof("POST", server.token_endpoint, nonce=nonce))

    assert (refused.status_code, refused.json()["error"]) == (400, "use_dpop_nonce")
    assert issued.status_code == 200
    assert issued.json()["token_type"] == "DPoP"
    assert issued.headers["dpop-nonce"] == nonce
    assert refused.headers["cache-control"] == issued.headers["cache-control"] == "no-store"
    counters = dpop.counters
    assert (counters.proofs, counters.nonce_challenges, counters.accepted) == (2, 1, 1)


async def test_without_nonces_no_nonce_header_is_sent(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Nonces off (the default): no DPoP-Nonce, and a bearer request still gets a Bearer token."""
    answer = await _post(http, server, None)
    assert answer.json()["token_type"] == "Bearer"
    assert "dpop-nonce" not in answer.headers


@pytest.mark.parametrize(
    ("method", "path", "words"),
    [
        ("GET", "/oauth/token", "htm"),
        ("POST", "/oauth/other", "htu"),
    ],
)
async def test_a_proof_for_another_request_is_refused(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    dpop: TokenEndpointDPoP,
    method: str,
    path: str,
    words: str,
) -> None:
    """A proof made for another method or URL: 400 invalid_dpop_proof naming the claim."""
    proof = DPoPKey.generate(clock=clock).proof(method, server.issuer + path)

    answer = await _post(http, server, proof)

    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_dpop_proof")
    assert words in answer.json()["error_description"]
    assert dpop.counters.invalid == 1
    assert server.counters.tokens_issued == 0


async def test_a_replayed_proof_is_refused(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The same proof on two token requests: the second is a replay."""
    proof = DPoPKey.generate(clock=clock).proof("POST", server.token_endpoint)

    first = await _post(http, server, proof)
    second = await _post(http, server, proof)

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (400, "invalid_dpop_proof")
    assert "used before" in second.json()["error_description"]


async def test_a_rotation_by_lifetime_follows_the_server_clock(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """nonce_lifetime: the nonce holds until the clock passes it, then a new one is demanded."""
    dpop.require_nonce = True
    dpop.nonce_lifetime = 30
    first = dpop.nonce

    clock.advance(29)
    kept = dpop.nonce
    clock.advance(1)

    assert kept == first
    assert dpop.nonce != first


async def test_a_tenant_checks_proofs_for_its_own_token_endpoint(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A tenant's htu is its own token URL; the root issuer's token URL is refused there."""
    tenant = server.tenant("acme")
    key = DPoPKey.generate(clock=clock)

    ok = await http.post(
        tenant.token_endpoint,
        data=FORM,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        headers={"DPoP": key.proof("POST", tenant.token_endpoint)},
    )
    wrong = await http.post(
        tenant.token_endpoint,
        data=FORM,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        headers={"DPoP": key.proof("POST", server.token_endpoint)},
    )

    assert ok.json()["token_type"] == "DPoP"
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_dpop_proof")


async def test_over_loopback_the_served_url_is_the_htu(
    server: AuthorizationServer, clock: FakeClock, anyio_backend: str
) -> None:
    """Served on loopback, proofs name the served token URL, over real HTTP."""
    key = DPoPKey.generate(clock=clock)
    async with server.serve() as base, httpx.AsyncClient() as client:
        answer = await client.post(
            f"{base}/oauth/token",
            data=FORM,
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            headers={"DPoP": key.proof("POST", f"{base}/oauth/token")},
        )
    assert answer.json()["token_type"] == "DPoP"
