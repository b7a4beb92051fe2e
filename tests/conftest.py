"""Shared fixtures: both anyio backends, an injectable clock, global state reset."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources.testing import AuthorizationServer


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    """A wall clock the test moves by hand, starting at a fixed instant."""
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A fresh testing server (with the demo client) on the fake clock."""
    return AuthorizationServer(clock=clock)


@pytest.fixture
async def http(server: AuthorizationServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to ``server`` in-process."""
    async with server.client() as client:
        yield client


@pytest.fixture(autouse=True)
def _forget_learned_auth_styles() -> None:
    """AuthStyle.AUTO learns per process; every test starts from nothing learned."""
    from tokensources.sources._client_credentials import forget_learned_auth_styles

    forget_learned_auth_styles()
