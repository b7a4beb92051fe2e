"""Fixtures for the testing server's own tests: a server on a fake clock, both transports, keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.clock import FakeClock
from tests.support.testing_keys import PrivateKey
from tokensources.testing import AuthorizationServer


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A fresh server with the demo client whose time is the test's fake clock."""
    return AuthorizationServer(clock=clock)


@pytest.fixture(params=["asgi", "loopback"])
async def http(
    request: pytest.FixtureRequest, server: AuthorizationServer, anyio_backend: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``server``: in-process (ASGI) or over real loopback HTTP."""
    if request.param == "asgi":
        async with server.client() as client:
            yield client
    else:
        async with server.serve() as url, httpx.AsyncClient(base_url=url) as client:
            yield client


@pytest.fixture(scope="session")
def private_keys() -> dict[str, PrivateKey]:
    """One private key per assertion algorithm family, generated once per session."""
    return {
        "RSA": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "P-256": ec.generate_private_key(ec.SECP256R1()),
        "P-384": ec.generate_private_key(ec.SECP384R1()),
        "Ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
