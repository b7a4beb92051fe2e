"""Scopes given as one space-separated string are split into scopes, never into characters."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.verify.conftest import MakeVerifier
from tokensources import ConfigError, InsufficientScopeError
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, authenticate, challenge, require_scopes

pytestmark = pytest.mark.anyio


async def test_verify_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """verify(scopes="read:messages") requires that one scope, not its characters."""
    verifier = make_verifier()
    with anyio.fail_after(10):
        claims = await verifier.verify(
            server.issue_token(scope="read:messages"), scopes="read:messages"
        )
        assert claims.scopes == {"read:messages"}
        with pytest.raises(InsufficientScopeError) as caught:
            await verifier.verify(
                server.issue_token(scope="read:messages"), scopes="read:messages write:messages"
            )
    assert caught.value.missing == ("write:messages",)


async def test_authenticate_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """authenticate(scopes="read:messages") passes a token that has the scope."""
    token = server.issue_token(scope="read:messages")
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
    with anyio.fail_after(10):
        claims = await authenticate(make_verifier(), scope, scopes="read:messages")
    assert claims.scopes == {"read:messages"}


async def test_bearer_auth_accepts_a_scope_string(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """BearerAuth(scopes="read:messages") lets the scope through and names it whole in a 403."""

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BearerAuth(ok, make_verifier(), scopes="read:messages")
    transport = httpx.ASGITransport(app=app)
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            good = server.issue_token(scope="read:messages")
            allowed = await client.get("/", headers={"Authorization": f"Bearer {good}"})
            lacking = server.issue_token(scope="write:messages")
            refused = await client.get("/", headers={"Authorization": f"Bearer {lacking}"})
    assert allowed.status_code == 204
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages"'
    )


def test_challenge_and_require_scopes_split_a_scope_string() -> None:
    """challenge() names a scope string's scopes; require_scopes splits a space-separated one."""
    error = InsufficientScopeError("lacks", missing=("write:messages",))
    answer = challenge(error, scopes="read:messages write:messages")
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages write:messages"'
    )
    claims = {"scope": "read:messages"}
    require_scopes(claims, "read:messages")
    with pytest.raises(InsufficientScopeError) as caught:
        require_scopes(claims, "read:messages write:messages")
    assert caught.value.missing == ("write:messages",)


@pytest.mark.parametrize("scopes", [[""], ["  "], [3]])
def test_empty_or_non_string_scopes_are_config_errors(scopes: Any) -> None:
    """An empty or non-string scope is refused with ConfigError everywhere scopes are given."""
    with pytest.raises(ConfigError):
        BearerAuth(lambda *a: None, None, scopes=scopes)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        challenge(InsufficientScopeError("lacks", missing=("x",)), scopes=scopes)
    with pytest.raises(ConfigError):
        require_scopes({"scope": "x"}, *scopes)
