"""A verifier that never got its keys backs off: requests do not drive JWKS or discovery fetches."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import InvalidTokenError, TokenEndpointError, TokenSourceError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

pytestmark = pytest.mark.anyio

CALLS = 200


async def failures(verifier: JWTVerifier, token: str, clock: FakeClock, step: float) -> list[Any]:
    """Verify ``token`` CALLS times in a row, ``step`` seconds apart; return the errors."""
    errors = []
    with anyio.fail_after(20):
        for _ in range(CALLS):
            with pytest.raises(TokenSourceError) as info:
                await verifier.verify(token)
            errors.append(info.value)
            clock.advance(step)
    return errors


def assert_transient_fetch_errors(errors: list[Any], token: str, status: int) -> None:
    """Every error is the typed, transient fetch error, never a verdict on the token."""
    for error in errors:
        assert isinstance(error, TokenEndpointError)
        assert not isinstance(error, InvalidTokenError)
        assert error.transient
        assert error.status_code == status
        assert token not in str(error)


async def test_sequential_calls_on_a_cold_failing_jwks_share_one_fetch(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """200 verifications in a row against a JWKS answering 503 make at most a handful of fetches."""
    server.faults.jwks_fail_next(10_000, 503)
    verifier = make_verifier(jwks_url=server.jwks_uri)
    token = server.issue_token()
    errors = await failures(verifier, token, clock, step=0.0)
    assert server.counters.jwks_requests <= 3
    assert len(errors) == CALLS
    assert_transient_fetch_errors(errors, token, 503)


async def test_cold_retries_back_off_exponentially_while_time_passes(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """One call a second for 200 s against a failing JWKS: few fetches, and they keep happening."""
    server.faults.jwks_fail_next(10_000, 503)
    verifier = make_verifier(jwks_url=server.jwks_uri)
    token = server.issue_token(lifetime=3600)
    errors = await failures(verifier, token, clock, step=1.0)
    # Doubling from about a second, capped near half a minute: ~10, never 200.
    assert 3 <= server.counters.jwks_requests <= 25
    assert_transient_fetch_errors(errors, token, 503)
    server.faults.reset()
    clock.advance(120)  # past any backoff
    with anyio.fail_after(10):
        assert (await verifier.verify(token)).subject == "demo-client"


async def test_a_failing_discovery_is_backed_off_too(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """With discovery down and nothing cached, 200 verifications make a handful of tries."""
    seen = {"discovery": 0}

    async def gateway(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/.well-known/o"):
            seen["discovery"] += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        await server(scope, receive, send)

    transport = httpx.ASGITransport(app=gateway)
    token = server.issue_token()
    async with httpx.AsyncClient(transport=transport) as http:
        verifier = JWTVerifier(
            server.issuer, server.audience, http=http, allow_insecure_http=True, clock=clock
        )
        errors = await failures(verifier, token, clock, step=0.0)
    # Each try asks OpenID Connect discovery, then RFC 8414 metadata.
    assert 1 <= seen["discovery"] <= 6
    assert server.counters.jwks_requests == 0
    assert all(isinstance(error, TokenSourceError) and error.transient for error in errors)
    assert len({type(error) for error in errors}) == 1


async def test_a_jwks_retry_after_holds_the_next_cold_fetch_back(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A JWKS 503 with Retry-After: 20 keeps the next fetch at least 20 seconds away."""
    fetches = {"jwks": 0}

    async def jwks_down(scope: Any, receive: Any, send: Any) -> None:
        fetches["jwks"] += 1
        headers = [(b"retry-after", b"20"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": b"maintenance"})

    token = server.issue_token(lifetime=3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_down)) as http:
        verifier = JWTVerifier(
            server.issuer,
            server.audience,
            jwks_url="https://keys.example/jwks.json",
            http=http,
            clock=clock,
        )
        errors = await failures(verifier, token, clock, step=0.1)  # 20 seconds of calls
        assert fetches["jwks"] == 1
        assert_transient_fetch_errors(errors, token, 503)
        assert errors[0].retry_after == 20
        clock.advance(31)  # past the longest backoff
        with anyio.fail_after(10), pytest.raises(TokenEndpointError):
            await verifier.verify(token)
    assert fetches["jwks"] == 2
