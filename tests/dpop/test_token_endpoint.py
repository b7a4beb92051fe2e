"""DPoP token requests against the testing server: proofs from the first request, one nonce retry.

Every request runs the real exchange (``send_token_request``) against the
testing server in-process, whose token endpoint checks each proof with
``tokensources.verify``'s checker.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tokensources import DPoPKey, Token, TokenEndpointError, reuse
from tokensources._http import HttpClient
from tokensources._wire import TokenAnswer
from tokensources.sources._assertion import assertion_settings
from tokensources.sources._client_auth import ClientAuth, Credentials
from tokensources.sources._private_key_auth import PrivateKeyJWTAuth
from tokensources.sources._secret_auth import SecretBasicAuth
from tokensources.sources._signing_keys import load_signing_key
from tokensources.sources._token_request import DPoPClient, send_token_request
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._dpop import TokenEndpointDPoP
from tokensources.wrappers._hooks import event_counts

pytestmark = pytest.mark.anyio

FORM = {"grant_type": "client_credentials"}


class CountingBasic(SecretBasicAuth):
    """client_secret_basic that counts how often its credentials were made."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        super().__init__(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        self.made = 0

    async def credentials(self, token_url: str) -> Credentials:
        """The Basic header, counted."""
        self.made += 1
        return await super().credentials(token_url)


async def _exchange(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    dpop: DPoPClient | None,
    auth: ClientAuth | None = None,
) -> TokenAnswer:
    client = auth if auth is not None else SecretBasicAuth(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    return await send_token_request(
        client, HttpClient(http, clock=clock), server.token_endpoint, FORM, dpop=dpop
    )


def _claims(answer: TokenAnswer) -> dict[str, Any]:
    assert answer.token is not None
    claims: dict[str, Any] = jwt.decode(
        answer.token.access_token, options={"verify_signature": False}
    )
    return claims


async def test_the_first_request_carries_a_proof_and_the_token_is_bound(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """One request, with a proof; the token is DPoP, carries the jkt, and cnf.jkt says the same."""
    key = DPoPKey.generate(clock=clock)

    answer = await _exchange(server, http, clock, DPoPClient(key))

    token = answer.result()
    assert (token.token_type, token.jkt) == ("DPoP", key.thumbprint)
    assert token.authorization.startswith("DPoP ")
    assert _claims(answer)["cnf"] == {"jkt": key.thumbprint}
    assert server.counters.token_requests == 1
    assert (dpop.counters.proofs, dpop.counters.accepted, dpop.counters.bound_tokens) == (1, 1, 1)


async def test_without_dpop_nothing_changes(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """The bearer path sends no proof and gets an unbound Bearer token."""
    token = (await _exchange(server, http, clock, None)).result()

    assert (token.token_type, token.jkt) == ("Bearer", None)
    assert dpop.counters.proofs == 0


async def test_a_nonce_demand_is_retried_once_with_fresh_credentials_then_remembered(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """use_dpop_nonce: one retry with the nonce and new credentials; the next call needs none."""
    dpop.require_nonce = True
    client = DPoPClient(DPoPKey.generate(clock=clock))
    auth = CountingBasic()
    before = event_counts().get("dpop_nonce_retry", 0)

    first = await _exchange(server, http, clock, client, auth)
    second = await _exchange(server, http, clock, client, auth)

    assert first.result().token_type == second.result().token_type == "DPoP"
    assert event_counts().get("dpop_nonce_retry", 0) == before + 1  # the metric counts it
    assert server.counters.token_requests == 3
    assert auth.made == 3  # the retry made its credentials again
    assert dpop.counters.nonce_challenges == 1
    assert client.nonces.get(server.token_endpoint) == dpop.nonce


async def test_the_nonce_retry_sends_a_fresh_client_assertion(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """private_key_jwt: the server refuses a replayed assertion jti, and the retry succeeds."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    server.register_client("jwt-client", jwks={"keys": [public]})
    settings = assertion_settings(audience=None, lifetime=60, headers=None, typ=None, issuer=None)
    auth = PrivateKeyJWTAuth("jwt-client", load_signing_key(private), settings, clock=clock)
    dpop.require_nonce = True

    answer = await _exchange(server, http, clock, DPoPClient(DPoPKey.generate(clock=clock)), auth)

    assert answer.result().token_type == "DPoP"
    assert server.counters.token_requests == 2
    assert dpop.counters.nonce_challenges == 1


async def test_a_rotated_nonce_costs_one_retry_per_rotation(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """Cold: one retry; warm: none; after the server rotates its nonce: one retry again."""
    dpop.require_nonce = True
    client = DPoPClient(DPoPKey.generate(clock=clock))

    await _exchange(server, http, clock, client)
    await _exchange(server, http, clock, client)
    dpop.rotate_nonce()
    answer = await _exchange(server, http, clock, client)

    assert answer.result().token_type == "DPoP"
    assert server.counters.token_requests == 5
    assert dpop.counters.nonce_challenges == 2


async def test_concurrent_cold_requests_each_retry_once_and_all_succeed(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """Twenty requests at once with no nonce known: each retries at most once, none fails."""
    dpop.require_nonce = True
    client = DPoPClient(DPoPKey.generate(clock=clock))
    answers: list[TokenAnswer] = []

    async def one() -> None:
        answers.append(await _exchange(server, http, clock, client))

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)

    assert [answer.result().token_type for answer in answers] == ["DPoP"] * 20
    assert 20 < server.counters.token_requests <= 40
    assert dpop.counters.nonce_challenges == server.counters.token_requests - 20


async def test_a_server_that_never_accepts_a_nonce_gets_exactly_one_retry(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """A nonce that changes on every answer: two requests, then the error; the nonce is kept."""
    dpop.require_nonce = True
    dpop.nonce_lifetime = 0  # a new nonce on every look: no proof can ever carry the current one
    client = DPoPClient(DPoPKey.generate(clock=clock))

    answer = await _exchange(server, http, clock, client)

    with pytest.raises(TokenEndpointError) as caught:
        answer.result()
    assert caught.value.error == "use_dpop_nonce"
    assert server.counters.token_requests == 2
    assert client.nonces.get(server.token_endpoint) is not None


async def test_use_dpop_nonce_without_a_nonce_is_not_retried(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An answer asking for a nonce but giving none: a retry could only fail the same way."""
    server.enqueue_error(400, "use_dpop_nonce")

    answer = await _exchange(server, http, clock, DPoPClient(DPoPKey.generate(clock=clock)))

    assert isinstance(answer.error, TokenEndpointError)
    assert answer.error.error == "use_dpop_nonce"
    assert server.counters.token_requests == 1


async def test_invalid_dpop_proof_is_not_retried(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """A proof the server refuses (made ten minutes ago) is answered once and not retried."""
    dpop.require_nonce = True
    slow = FakeClock(clock.now - 600)

    answer = await _exchange(server, http, clock, DPoPClient(DPoPKey.generate(clock=slow)))

    assert isinstance(answer.error, TokenEndpointError)
    assert answer.error.error == "invalid_dpop_proof"
    assert answer.error.transient is False
    assert server.counters.token_requests == 1
    assert dpop.counters.invalid == 1


async def test_a_client_that_must_use_dpop_is_refused_without_a_proof(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """DPoP required for the client: a bearer request is invalid_dpop_proof; a DPoP one passes."""
    dpop.require(DEMO_CLIENT_ID)

    refused = await _exchange(server, http, clock, None)
    accepted = await _exchange(server, http, clock, DPoPClient(DPoPKey.generate(clock=clock)))

    assert isinstance(refused.error, TokenEndpointError)
    assert refused.error.error == "invalid_dpop_proof"
    assert accepted.result().token_type == "DPoP"


async def test_a_bearer_answer_is_used_as_bearer_with_one_warning(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    dpop: TokenEndpointDPoP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server without DPoP: the Bearer token stays unbound (no jkt), and one warning is logged."""
    dpop.supported = False
    client = DPoPClient(DPoPKey.generate(clock=clock))
    caplog.set_level(logging.WARNING, logger="tokensources")
    before = event_counts().get("dpop_bearer_answer", 0)

    tokens = [(await _exchange(server, http, clock, client)).result() for _ in range(2)]

    assert [(t.token_type, t.jkt) for t in tokens] == [("Bearer", None)] * 2
    assert client.bearer_answers == 2
    assert event_counts().get("dpop_bearer_answer", 0) == before + 2
    warnings = [r.getMessage() for r in caplog.records if "Bearer token" in r.getMessage()]
    assert len(warnings) == 1
    assert tokens[0].access_token not in warnings[0]


class DPoPGrantSource:
    """The smallest source over the DPoP exchange: what a grant with ``dpop=`` does per token()."""

    def __init__(self, server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock):
        self._send = functools.partial(
            send_token_request,
            SecretBasicAuth(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            HttpClient(http, clock=clock),
            server.token_endpoint,
            FORM,
            dpop=DPoPClient(DPoPKey.generate(clock=clock)),
        )

    async def token(self) -> Token:
        """One exchange's token."""
        return (await self._send()).result()

    def invalidate(self, token: Token) -> None:
        """Nothing to drop: this source keeps no token."""


async def test_a_thousand_cold_callers_cost_one_exchange_under_reuse(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """reuse() single flight holds for bound tokens: 1 000 callers, one nonce retry, one token."""
    dpop.require_nonce = True
    source = reuse(DPoPGrantSource(server, http, clock))
    tokens: list[Token] = []

    async def caller() -> None:
        tokens.append(await source.token())

    async with anyio.create_task_group() as group:
        for _ in range(1000):
            group.start_soon(caller)

    assert len({(t.access_token, t.jkt) for t in tokens}) == 1
    assert tokens[0].token_type == "DPoP"
    assert server.counters.token_requests == 2  # the nonce challenge and its one retry
    assert dpop.counters.bound_tokens == 1
