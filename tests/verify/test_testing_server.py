"""The testing server checks tokens with JWTVerifier, in /api/private and verify_access_token."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import ConfigError, InvalidTokenError
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio


async def private(http: httpx.AsyncClient, token: str) -> int:
    """The status /api/private answers for a token."""
    response = await http.get("/api/private", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


async def test_both_accept_tokens_signed_with_rotated_keys(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """After a key rotation /api/private and verify_access_token both accept the new tokens."""
    with anyio.fail_after(10):
        assert await private(http, server.issue_token()) == 200
        server.rotate_keys()
        token = server.issue_token()
        assert server.verify_access_token(token)["sub"] == "demo-client"
        assert await private(http, token) == 200


async def test_both_refuse_a_token_issued_in_the_future(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A token whose iat is ahead of the server's clock is refused by both, as JWTVerifier does."""
    now = clock.now
    clock.now = now + 3600
    token = server.issue_token(lifetime=7200)
    clock.now = now
    with anyio.fail_after(10):
        assert await private(http, token) == 401
    with pytest.raises(InvalidTokenError) as caught:
        server.verify_access_token(token)
    assert "iat" in str(caught.value)
    assert token not in str(caught.value)


async def test_a_fetching_verifier_cannot_verify_without_awaiting(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Only a verifier given jwks verifies synchronously; one that fetches keys says so."""
    with pytest.raises(ConfigError):
        make_verifier().verify_sync(server.issue_token())
