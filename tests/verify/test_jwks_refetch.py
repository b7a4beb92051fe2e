"""A JWKS refetch forced by an unknown kid never makes valid tokens wait for it."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import resign, unpublished_key
from tokensources import InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import Claims, JWTVerifier

pytestmark = pytest.mark.anyio


class GatedJWKS:
    """The testing server, with every JWKS answer after the first held until released."""

    def __init__(self, server: AuthorizationServer) -> None:
        self.server = server
        self.requests = 0
        self.answered = 0
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the request; hold a refetch of the JWKS at the gate."""
        if scope["type"] == "http" and scope["path"].endswith("jwks.json"):
            self.requests += 1
            if self.requests > 1:
                self.entered.set()
                await self.release.wait()
            await self.server(scope, receive, send)
            self.answered += 1
            return
        await self.server(scope, receive, send)


def verifier_for(gate: GatedJWKS, clock: FakeClock, **kwargs: Any) -> JWTVerifier:
    """A verifier fetching the JWKS through the gate."""
    server = gate.server
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gate), base_url=server.issuer)
    return JWTVerifier(
        server.issuer,
        server.audience,
        jwks_url=server.jwks_uri,
        http=http,
        clock=clock,
        allow_insecure_http=True,
        **kwargs,
    )


async def test_valid_tokens_do_not_wait_for_a_refetch_forced_by_an_unknown_kid(
    clock: FakeClock,
) -> None:
    """During a forced refetch valid tokens verify at once; unknown kids wait for the new keys."""
    server = AuthorizationServer(clock=clock)
    gate = GatedJWKS(server)
    verifier = verifier_for(gate, clock)
    good = server.issue_token(lifetime=7200)
    forged = resign(good, unpublished_key(), kid="forged")
    verdicts: list[str] = []

    async def judge(token: str, name: str) -> None:
        try:
            await verifier.verify(token)
        except InvalidTokenError:
            verdicts.append(f"{name} refused")
        else:
            verdicts.append(f"{name} accepted")

    with anyio.fail_after(10):
        await verifier.verify(good)
        clock.advance(61)  # past the cool-down, keys still fresh
        server.rotate_keys(keep_old=True)
        rotated = server.issue_token(lifetime=7200)  # signed with a kid the cache lacks
        async with anyio.create_task_group() as tg:
            tg.start_soon(judge, forged, "forged")
            await gate.entered.wait()
            # The refetch is held: valid tokens still verify, on the cached keys.
            for _ in range(20):
                assert isinstance(await verifier.verify(good), Claims)
            assert gate.answered == 1
            tg.start_soon(judge, rotated, "rotated")
            await anyio.wait_all_tasks_blocked()
            assert verdicts == []  # both unknown kids wait for the refetch
            gate.release.set()
        await verifier.aclose()
    assert sorted(verdicts) == ["forged refused", "rotated accepted"]
    assert gate.requests == 2


async def test_unknown_kid_during_a_scheduled_refresh_waits_for_it(clock: FakeClock) -> None:
    """An unknown kid arriving mid-refresh is judged on its result, within the cool-down too."""
    server = AuthorizationServer(clock=clock)
    gate = GatedJWKS(server)
    verifier = verifier_for(gate, clock, jwks_max_age=100, jwks_cooldown=1000)
    good = server.issue_token(lifetime=7200)
    verdicts: list[str] = []

    async def verify(token: str, name: str) -> None:
        await verifier.verify(token)
        verdicts.append(name)

    with anyio.fail_after(10):
        await verifier.verify(good)
        clock.advance(150)  # due for refresh, well within the cool-down
        server.rotate_keys(keep_old=True)
        rotated = server.issue_token(lifetime=7200)
        async with anyio.create_task_group() as tg:
            tg.start_soon(verify, good, "refresher")  # starts the scheduled refresh
            await gate.entered.wait()
            tg.start_soon(verify, rotated, "rotated")
            await verifier.verify(good)  # the cached keys still serve
            await anyio.wait_all_tasks_blocked()
            assert verdicts == []
            gate.release.set()
        await verifier.aclose()
    assert sorted(verdicts) == ["refresher", "rotated"]
    assert gate.requests == 2
