"""Fixtures for DPoP: a testing server whose token endpoint speaks DPoP, and ways to reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources.testing import AuthorizationServer
from tokensources.testing._dpop import TokenEndpointDPoP


@pytest.fixture
def dpop(server: AuthorizationServer) -> TokenEndpointDPoP:
    """The DPoP settings and counters of the test's server."""
    return server.dpop


@pytest.fixture
async def http(server: AuthorizationServer, anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to ``server`` in-process (ASGI)."""
    async with server.client() as client:
        yield client


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A fresh testing server (with the demo client) on the fake clock."""
    return AuthorizationServer(clock=clock)
