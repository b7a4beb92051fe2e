"""BearerAuth in a real Starlette app and authenticate() in a real FastAPI app."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.verify.conftest import MakeVerifier
from tokensources import TokenSourceError
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    Claims,
    JWTVerifier,
    authenticate,
    challenge,
    claims_from,
)

pytestmark = pytest.mark.anyio

SCOPE = "read:messages"


def starlette_app(verifier: JWTVerifier) -> Starlette:
    """A Starlette app whose /api/private is behind BearerAuth and /api/public is not."""

    async def private(request: StarletteRequest) -> JSONResponse:
        claims = claims_from(request)
        return JSONResponse({"sub": claims.subject, "scopes": sorted(claims.scopes)})

    async def public(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"message": "public"})

    middleware = Middleware(
        BearerAuth,
        verifier=verifier,
        scopes=[SCOPE],
        paths=["/api/private"],
    )
    return Starlette(
        routes=[Route("/api/private", private), Route("/api/public", public)],
        middleware=[middleware],
    )


def fastapi_app(verifier: JWTVerifier) -> FastAPI:
    """A FastAPI app whose /api/private depends on authenticate() with challenge() answers."""
    app = FastAPI()

    async def requires(request: Request) -> Claims:
        try:
            return await authenticate(verifier, request, scopes=[SCOPE])
        except TokenSourceError as exc:
            answer = challenge(exc, scopes=[SCOPE])
            raise HTTPException(answer.status, answer.body, headers=answer.headers) from None

    @app.get("/api/private")
    async def private(claims: Claims = Depends(requires)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims.subject, "scopes": sorted(claims.scopes)}

    return app


BUILDERS = {"starlette": starlette_app, "fastapi": fastapi_app}


@pytest.fixture(params=sorted(BUILDERS))
async def client(request: pytest.FixtureRequest, make_verifier: MakeVerifier) -> Any:
    """An in-process client to the framework app named by the parameter."""
    verifier = make_verifier()
    app = BUILDERS[request.param](verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_gets_a_bare_bearer_challenge(client: httpx.AsyncClient) -> None:
    """A request without a token is answered 401 with a bare Bearer challenge."""
    with anyio.fail_after(10):
        response = await client.get("/api/private")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_valid_token_reaches_the_handler_with_its_claims(
    client: httpx.AsyncClient, server: AuthorizationServer
) -> None:
    """A valid token with the scope gets 200 and the handler sees its claims."""
    token = server.issue_token("svc-a", scope="read:messages write:messages")
    with anyio.fail_after(10):
        response = await client.get("/api/private", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"sub": "svc-a", "scopes": ["read:messages", "write:messages"]}


async def test_missing_scope_is_403_insufficient_scope(
    client: httpx.AsyncClient, server: AuthorizationServer
) -> None:
    """A valid token without the required scope is answered 403 insufficient_scope."""
    token = server.issue_token(scope="write:messages")
    with anyio.fail_after(10):
        response = await client.get("/api/private", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages"'
    )
    assert token not in response.text


async def test_garbage_token_is_401_invalid_token(client: httpx.AsyncClient) -> None:
    """A token that is not a JWT is answered 401 invalid_token, without echoing it."""
    garbage = "not.a.jwt-at-all"
    with anyio.fail_after(10):
        response = await client.get("/api/private", headers=bearer(garbage))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert garbage not in response.text


async def test_unprotected_starlette_route_needs_no_token(make_verifier: MakeVerifier) -> None:
    """BearerAuth with paths leaves the other Starlette routes open."""
    app = starlette_app(make_verifier())
    transport = httpx.ASGITransport(app=app)
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.get("/api/public")
    assert response.status_code == 200
    assert response.json() == {"message": "public"}
