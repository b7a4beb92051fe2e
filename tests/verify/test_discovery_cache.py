"""The verifier's discovery cache: one discovery per storm, kept, backed off on its clock."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import TokenSourceError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

pytestmark = pytest.mark.anyio

CALLERS = 100


class Gateway:
    """The testing server behind a gateway that can take discovery down, counting discoveries."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server
        self.discovery_down = False
        self.discoveries = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/.well-known/o"):
            self.discoveries += 1
            if self.discovery_down:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"down"})
                return
        await self.server(scope, receive, send)


def verifier_behind(gateway: Gateway, http: httpx.AsyncClient, clock: FakeClock) -> JWTVerifier:
    """A verifier that finds its keys by discovery, through ``gateway``."""
    server = gateway.server
    return JWTVerifier(
        server.issuer, server.audience, http=http, allow_insecure_http=True, clock=clock
    )


async def test_a_storm_and_what_follows_make_one_discovery(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Concurrent first verifications share one discovery, and later ones make none."""
    gateway = Gateway(server)
    token = server.issue_token(lifetime=3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway)) as http:
        verifier = verifier_behind(gateway, http, clock)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(CALLERS):
                    tg.start_soon(verifier.verify, token)
            clock.advance(3000)  # past the key set's max age: a JWKS refresh, no discovery
            await verifier.verify(token)
    assert gateway.discoveries == 1
    assert server.counters.jwks_requests == 2


async def test_a_failed_discovery_is_retried_once_the_verifiers_clock_passes_the_backoff(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """The backoff after a failed discovery is measured on the clock the verifier was given."""
    gateway = Gateway(server)
    gateway.discovery_down = True
    token = server.issue_token(lifetime=3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway)) as http:
        verifier = verifier_behind(gateway, http, clock)
        with anyio.fail_after(20):
            with pytest.raises(TokenSourceError) as first:
                await verifier.verify(token)
            tried = gateway.discoveries
            with pytest.raises(TokenSourceError) as second:
                await verifier.verify(token)  # within the backoff: no new try
            assert second.value is first.value
            assert gateway.discoveries == tried
            gateway.discovery_down = False
            clock.advance(60)  # past the longest first backoff
            assert (await verifier.verify(token)).subject == "demo-client"
    assert gateway.discoveries == tried + 1
