"""The DPoP token request on the wire (MockTransport): the header, nonce learning, odd answers."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, DPoPKey, TokenEndpointError
from tokensources._http import HttpClient
from tokensources._wire import TokenAnswer
from tokensources.sources._secret_auth import SecretPostAuth
from tokensources.sources._token_request import DPoPClient, send_token_request

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://auth.example.com/oauth/token?tenant=a"
FORM = {"grant_type": "client_credentials", "scope": "read"}


class Endpoint:
    """A token endpoint answering from a list of (status, headers, body), recording requests."""

    def __init__(self, *answers: tuple[int, dict[str, str], dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, headers, body = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return httpx.Response(status, headers=headers, json=body)


async def _send(endpoint: Endpoint, dpop: DPoPClient | None, clock: FakeClock) -> TokenAnswer:
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
        return await send_token_request(
            SecretPostAuth("cid", "the-client-secret"),
            HttpClient(client, clock=clock),
            TOKEN_URL,
            FORM,
            dpop=dpop,
        )


Answer = tuple[int, dict[str, str], dict[str, Any]]
OK: Answer = (200, {}, {"access_token": "at-1", "token_type": "DPoP", "expires_in": 60})
NONCE_PLEASE: Answer = (400, {"DPoP-Nonce": "n-1"}, {"error": "use_dpop_nonce"})


async def test_the_request_carries_one_proof_for_the_endpoint_without_its_query(
    clock: FakeClock,
) -> None:
    """A DPoP header with htm POST and htu without the query; form and Accept unchanged."""
    endpoint = Endpoint(OK)
    key = DPoPKey.generate(clock=clock)

    token = (await _send(endpoint, DPoPClient(key), clock)).result()

    (request,) = endpoint.requests
    claims = jwt.decode(request.headers["DPoP"], options={"verify_signature": False})
    assert (claims["htm"], claims["htu"]) == ("POST", "https://auth.example.com/oauth/token")
    assert "nonce" not in claims
    assert request.headers["Accept"] == "application/json"
    assert dict(httpx.QueryParams(request.content.decode())) == {
        **FORM,
        "client_id": "cid",
        "client_secret": "the-client-secret",
    }
    assert (token.token_type, token.jkt) == ("DPoP", key.thumbprint)


async def test_a_lower_case_dpop_token_type_is_bound_too(clock: FakeClock) -> None:
    """token_type is case-insensitive (RFC 6749 §7.1): "dpop" is a DPoP token."""
    endpoint = Endpoint((200, {}, {"access_token": "at", "token_type": "dpop"}))
    key = DPoPKey.generate(clock=clock)

    token = (await _send(endpoint, DPoPClient(key), clock)).result()

    assert (token.token_type, token.jkt) == ("DPoP", key.thumbprint)


async def test_the_retry_carries_the_nonce_and_a_new_jti(clock: FakeClock) -> None:
    """use_dpop_nonce with a nonce: the second proof has it and a jti of its own."""
    endpoint = Endpoint(NONCE_PLEASE, OK)

    (await _send(endpoint, DPoPClient(DPoPKey.generate(clock=clock)), clock)).result()

    first, second = (
        jwt.decode(r.headers["DPoP"], options={"verify_signature": False})
        for r in endpoint.requests
    )
    assert "nonce" not in first
    assert second["nonce"] == "n-1"
    assert first["jti"] != second["jti"]


async def test_a_nonce_on_a_successful_answer_is_learned(clock: FakeClock) -> None:
    """DPoP-Nonce on a 200 goes into the next proof without any retry."""
    endpoint = Endpoint((200, {"DPoP-Nonce": "n-7"}, OK[2]))
    client = DPoPClient(DPoPKey.generate(clock=clock))

    await _send(endpoint, client, clock)
    await _send(endpoint, client, clock)

    claims = jwt.decode(endpoint.requests[1].headers["DPoP"], options={"verify_signature": False})
    assert claims["nonce"] == "n-7"
    assert len(endpoint.requests) == 2


async def test_a_malformed_nonce_is_ignored_not_retried_and_never_raised(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A use_dpop_nonce with an unusable DPoP-Nonce: the error is returned, one request, one log."""
    endpoint = Endpoint((400, {"DPoP-Nonce": 'bad"nonce'}, {"error": "use_dpop_nonce"}))
    client = DPoPClient(DPoPKey.generate(clock=clock))
    caplog.set_level(logging.WARNING, logger="tokensources")

    answer = await _send(endpoint, client, clock)

    assert isinstance(answer.error, TokenEndpointError)
    assert answer.error.error == "use_dpop_nonce"
    assert len(endpoint.requests) == 1
    assert client.nonces.ignored == 1
    assert client.nonces.get(TOKEN_URL) is None
    assert any("malformed DPoP-Nonce" in r.getMessage() for r in caplog.records)


async def test_an_echoed_proof_never_reaches_the_error(clock: FakeClock) -> None:
    """A server that quotes the DPoP header in its error: the proof is masked as a credential."""

    def echo(request: httpx.Request) -> httpx.Response:
        proof = request.headers["DPoP"]
        return httpx.Response(
            400, json={"error": "invalid_dpop_proof", "error_description": f"bad proof {proof}"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as client:
        answer = await send_token_request(
            SecretPostAuth("cid", "the-client-secret"),
            HttpClient(client, clock=clock),
            TOKEN_URL,
            FORM,
            dpop=DPoPClient(DPoPKey.generate(clock=clock)),
        )

    assert isinstance(answer.error, TokenEndpointError)
    text = str(answer.error) + repr(answer.error) + json.dumps(answer.error.error_description)
    assert "eyJ" not in text  # no part of the proof (a JWS starts with a base64 "{")


async def test_extra_secrets_are_masked_with_or_without_dpop(clock: FakeClock) -> None:
    """A form value named in secrets (a subject token) never shows in the error, either path."""

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "sub-tok-9"}
        )

    for dpop in (None, DPoPClient(DPoPKey.generate(clock=clock))):
        async with httpx.AsyncClient(transport=httpx.MockTransport(echo)) as client:
            answer = await send_token_request(
                SecretPostAuth("cid", "the-client-secret"),
                HttpClient(client, clock=clock),
                TOKEN_URL,
                {**FORM, "subject_token": "sub-tok-9"},
                secrets=("sub-tok-9",),
                dpop=dpop,
            )
        assert isinstance(answer.error, TokenEndpointError)
        assert "sub-tok-9" not in str(answer.error)


async def test_dpop_must_be_a_key() -> None:
    """DPoPClient takes a DPoPKey, nothing else."""
    with pytest.raises(ConfigError, match="DPoPKey"):
        DPoPClient("not a key")  # type: ignore[arg-type]
