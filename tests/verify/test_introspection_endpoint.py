"""The testing server's RFC 7662 introspection endpoint, spoken to over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.support.clock import FakeClock
from tests.support.introspection_world import (
    AUDIENCE,
    INTROSPECTION_URL,
    ISSUER,
    RESOURCE_CLIENT,
    IntrospectionWorld,
)

pytestmark = pytest.mark.anyio


async def introspect(
    world: IntrospectionWorld, token: str | None, auth: tuple[str, str] | None = RESOURCE_CLIENT
) -> httpx.Response:
    """One introspection request, with Basic authentication when ``auth`` is given."""
    data = {} if token is None else {"token": token, "token_type_hint": "access_token"}
    async with world.http() as http:
        return await http.post(INTROSPECTION_URL, data=data, auth=auth)


async def test_a_signed_token_is_active_with_its_claims(world: IntrospectionWorld) -> None:
    """A valid JWT of the issuer is active, with its scope, subject, audience, issuer and expiry."""
    response = await introspect(world, world.jwt("read:messages"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert answer["active"] is True
    assert (answer["scope"], answer["sub"], answer["aud"], answer["iss"]) == (
        "read:messages",
        "demo-client",
        AUDIENCE,
        ISSUER,
    )
    assert answer["exp"] == world.clock.now + 3600
    assert answer["token_type"] == "Bearer"


async def test_an_opaque_token_is_active_until_it_expires(
    world: IntrospectionWorld, clock: FakeClock
) -> None:
    """An opaque token handed out by the endpoint is active until its exp, then inactive."""
    token = world.opaque("read:messages", lifetime=60)
    assert token.count(".") == 0  # not a JWT
    assert (await introspect(world, token)).json()["active"] is True
    clock.advance(60)
    assert (await introspect(world, token)).json() == {"active": False}


@pytest.mark.parametrize("kind", ["jwt", "opaque"])
async def test_a_revoked_token_is_inactive(world: IntrospectionWorld, kind: str) -> None:
    """Revoking a token, signed or opaque, makes it inactive at once."""
    token = world.jwt() if kind == "jwt" else world.opaque()
    world.endpoint.revoke(token)
    assert (await introspect(world, token)).json() == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 2000])
async def test_unknown_tokens_are_inactive_and_nothing_more(
    world: IntrospectionWorld, token: str
) -> None:
    """A token the issuer never issued gets only active false (RFC 7662 §2.2), never a reason."""
    response = await introspect(world, token)
    assert (response.status_code, response.json()) == (200, {"active": False})


@pytest.mark.parametrize(
    "auth",
    [None, ("resource-server", "wrong-secret"), ("nobody", "rs-secret-7f3a9c")],
    ids=["none", "wrong-secret", "unknown-client"],
)
async def test_callers_must_authenticate(
    world: IntrospectionWorld, auth: tuple[str, str] | None
) -> None:
    """Without valid client credentials the answer is invalid_client 401, not a verdict."""
    response = await introspect(world, world.jwt(), auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


async def test_a_request_without_token_is_invalid(world: IntrospectionWorld) -> None:
    """An authenticated request that names no token is invalid_request 400."""
    response = await introspect(world, None)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_only_post_is_accepted(world: IntrospectionWorld) -> None:
    """A GET is refused with 405 and Allow: POST (RFC 7662 §2.1)."""
    async with world.http() as http:
        response = await http.get(INTROSPECTION_URL, auth=RESOURCE_CLIENT)
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert world.endpoint.requests == 1
