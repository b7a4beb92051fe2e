"""Fault injection: latency, failures with Retry-After, malformed bodies, drops, JWKS failures."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from tokensources._errors import ConfigError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def fetch(http: httpx.AsyncClient) -> httpx.Response:
    """One demo-client token request, bounded."""
    with anyio.fail_after(10):
        return await http.post("/oauth/token", data=GRANT, auth=DEMO)


async def test_fail_next_answers_the_status_then_recovers(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """fail_next(2, 503, retry_after=7) fails exactly two requests with Retry-After."""
    server.faults.fail_next(2, 503, retry_after=7)

    answers = [await fetch(http) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert answers[0].text == "503 Service Unavailable"
    counters = server.counters
    assert (counters.token_requests, counters.token_errors, counters.tokens_issued) == (3, 2, 1)
    assert counters.faults_injected == 2
    assert counters.by_client[DEMO_CLIENT_ID] == 3


async def test_fail_next_with_an_oauth_error_and_an_http_date(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """An error code becomes a JSON body; a string Retry-After is sent as it is."""
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    server.faults.fail_next(1, 429, error="slow_down", retry_after=date)

    response = await fetch(http)

    assert response.status_code == 429
    assert response.json() == {"error": "slow_down"}
    assert response.headers["retry-after"] == date


async def test_fail_next_with_a_custom_body(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A mapping body is sent as JSON with the chosen status."""
    server.faults.fail_next(1, 400, body={"error": "invalid_grant", "error_description": "nope"})

    response = await fetch(http)

    assert response.status_code == 400
    assert response.json()["error_description"] == "nope"


@pytest.mark.parametrize("kind", ["html", "no_access_token", "truncated", "error_field", "huge"])
async def test_malformed_next_answers_200_with_an_unusable_body(
    server: AuthorizationServer, http: httpx.AsyncClient, kind: str
) -> None:
    """Each malformed kind answers 200 with the promised broken body, once."""
    server.faults.malformed_next(1, kind)  # type: ignore[arg-type]

    response = await fetch(http)
    after = await fetch(http)

    assert response.status_code == 200
    content_type = response.headers["content-type"]
    if kind == "html":
        assert content_type.startswith("text/html")
    else:
        assert content_type == "application/json"
    if kind == "no_access_token":
        assert "access_token" not in response.json()
    elif kind == "error_field":
        assert "error" in response.json()
    elif kind == "truncated":
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    elif kind == "huge":
        assert len(response.content) == 10 * 1024 * 1024
    assert after.status_code == 200
    assert "access_token" in after.json()
    assert server.counters.tokens_issued == 1


async def test_drop_next_loses_the_connection(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A dropped request raises an httpx transport error; the next one succeeds."""
    server.faults.drop_next(1)

    with pytest.raises(httpx.RemoteProtocolError):
        await fetch(http)
    response = await fetch(http)

    assert response.status_code == 200
    assert server.counters.token_requests == 2
    assert server.counters.faults_injected == 1


async def test_faults_are_consumed_in_order(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Queued faults apply one per request in the order they were queued."""
    server.faults.fail_next(1, 500)
    server.faults.drop_next(1)
    server.faults.malformed_next(1, "html")
    assert server.faults.pending == 3

    first = await fetch(http)
    with pytest.raises(httpx.TransportError):
        await fetch(http)
    third = await fetch(http)
    fourth = await fetch(http)

    assert (first.status_code, third.headers["content-type"][:9], fourth.status_code) == (
        500,
        "text/html",
        200,
    )
    assert server.faults.pending == 0


async def test_latency_delays_token_answers(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """With latency set, a client that gives up early gets nothing; without it, a token."""
    server.faults.latency = 30
    with anyio.move_on_after(0.2) as scope:
        await http.post("/oauth/token", data=GRANT, auth=DEMO)
    assert scope.cancelled_caught

    server.faults.reset()
    response = await fetch(http)

    assert response.status_code == 200


async def test_jwks_fail_next_fails_the_jwks_endpoint(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """jwks_fail_next fails JWKS requests only, then the JWKS is served again."""
    server.faults.jwks_fail_next(1, 502)

    with anyio.fail_after(10):
        failed = await http.get("/.well-known/jwks.json")
        served = await http.get("/.well-known/jwks.json")
    token = await fetch(http)

    assert failed.status_code == 502
    assert served.json()["keys"]
    assert token.status_code == 200
    assert server.counters.jwks_requests == 2


async def test_reset_clears_queued_faults(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """reset() forgets queued faults and latency."""
    server.faults.fail_next(5)
    server.faults.jwks_fail_next(5)
    server.faults.reset()

    response = await fetch(http)

    assert response.status_code == 200
    assert server.faults.pending == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f.malformed_next(1, "bogus"),
        lambda f: f.fail_next(-1),
        lambda f: f.fail_next(1, status=42),
    ],
    ids=["kind", "count", "status"],
)
def test_bad_fault_arguments_are_config_errors(call: object) -> None:
    """Nonsense fault arguments raise ConfigError at once."""
    with pytest.raises(ConfigError):
        call(AuthorizationServer().faults)  # type: ignore[operator]
