"""BearerAuth middleware and the dependency helpers, on a raw ASGI app."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import (
    MakeVerifier,
    hs256_with_public_key,
    resign,
    unpublished_key,
    unsigned,
)
from tokensources import ConfigError, InsufficientScopeError
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    CLAIMS_KEY,
    BearerAuth,
    JWTVerifier,
    authenticate,
    challenge,
    claims_from,
)

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, Any]


async def handler(scope: Message, receive: Any, send: Any) -> None:
    """A bare ASGI endpoint answering with what it knows about the caller."""
    try:
        claims = claims_from(scope)
        payload = {"sub": claims.subject, "scopes": sorted(claims.scopes)}
    except LookupError:
        payload = {"sub": None}
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client_for(app: Any) -> httpx.AsyncClient:
    """An in-process client for an ASGI app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def call(
    verifier: JWTVerifier, headers: Any = None, path: str = "/api/private", **kwargs: Any
) -> httpx.Response:
    """One GET through BearerAuth(read:messages) protecting /api."""
    app = BearerAuth(handler, verifier, scopes=["read:messages"], paths=["/api/private"], **kwargs)
    async with client_for(app) as client:
        with anyio.fail_after(10):
            return await client.get(path, headers=headers)


async def test_valid_token_reaches_the_app_with_its_claims(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A valid token with the scope gets 200 and the handler sees the verified claims."""
    response = await call(make_verifier(), {"Authorization": f"Bearer {server.issue_token()}"})
    assert response.status_code == 200
    assert response.json() == {"sub": "demo-client", "scopes": ["read:messages", "write:messages"]}


async def test_missing_token_is_401_without_error_code(make_verifier: MakeVerifier) -> None:
    """No Authorization header: 401 and a bare Bearer challenge naming the realm (RFC 6750 §3.1)."""
    response = await call(make_verifier(), realm="messages")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="messages"'
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "unauthorized"


def _forgeries(server: AuthorizationServer, clock: FakeClock) -> dict[str, str]:
    key = unpublished_key()
    good = server.issue_token()
    expired = server.issue_token(lifetime=1)
    return {
        "expired": expired,
        "wrong issuer": AuthorizationServer(issuer="https://evil.example").issue_token(),
        "wrong audience": server.issue_token(audience="https://other.example"),
        "wrong signature": resign(good, key),
        "alg none": unsigned(good),
        "hs256 public key": hs256_with_public_key(good, server),
        "unknown kid": resign(good, key, kid="unknown"),
        "tampered": tamper(good),
        "garbage base64": "Zm9v.YmFy.YmF6",
        "not a jwt": "abcdef",
    }


def tamper(token: str) -> str:
    """The token with one character of its payload changed."""
    at = token.index(".") + 5
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


async def test_invalid_tokens_are_401_invalid_token(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """Every kind of bad token gets 401 invalid_token, and nothing of the token is echoed."""
    forgeries = _forgeries(server, clock)
    clock.advance(10)  # past the short token's exp and the leeway
    verifier = make_verifier()
    for name, token in forgeries.items():
        response = await call(verifier, {"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"', name
        assert response.json() == {"error": "invalid_token", "message": "Missing or invalid token."}
        exposed = response.text + str(response.headers)
        assert token not in exposed
        assert all(part not in exposed for part in token.split(".") if len(part) > 4), name


async def test_missing_scope_is_403(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A valid token without read:messages gets 403 insufficient_scope naming the scope."""
    token = server.issue_token(scope="write:messages")
    response = await call(make_verifier(), {"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages"'
    )
    assert response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "abc.def.ghi"}, 401),  # Bearer missing
        ({"Authorization": "Basic ZGVtbzpzZWNyZXQ="}, 401),
        ({"Authorization": "Bearer"}, 400),
        ({"Authorization": "Bearer abc.def.ghi second.token.here"}, 400),  # two tokens
        ([("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")], 400),
        ({"Authorization": "Bearer ***garbage***"}, 400),
        ({"Authorization": "Bearer " + "A" * (1024 * 1024)}, 401),  # a 1 MB header
    ],
)
async def test_malformed_headers(
    server: AuthorizationServer, make_verifier: MakeVerifier, headers: Any, status: int
) -> None:
    """Malformed Authorization headers get 400 invalid_request or 401, with no JWKS fetch."""
    response = await call(make_verifier(), headers)
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Bearer")
    if status == 400:
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    assert server.counters.jwks_requests == 0


async def test_unprotected_paths_pass_through(make_verifier: MakeVerifier) -> None:
    """Paths outside ``paths`` reach the app without a token; prefixes match whole segments."""
    verifier = make_verifier()
    for path in ("/api/public", "/api/privateer", "/"):
        response = await call(verifier, path=path)
        assert response.status_code == 200, path
        assert response.json() == {"sub": None}
    assert (await call(verifier, path="/api/private/x")).status_code == 401


async def test_jwks_unavailable_is_503(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """With no cached keys and the JWKS failing, the answer is 503 with Retry-After, not 401."""
    server.faults.jwks_fail_next(1, 502)
    response = await call(make_verifier(), {"Authorization": f"Bearer {server.issue_token()}"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers


async def test_lifespan_passes_through(make_verifier: MakeVerifier) -> None:
    """Non-HTTP scopes such as lifespan go straight to the app."""
    seen: list[str] = []

    async def app(scope: Message, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BearerAuth(app, make_verifier())({"type": "lifespan"}, _never, _discard)
    assert seen == ["lifespan"]


async def test_websocket_without_token_is_closed(make_verifier: MakeVerifier) -> None:
    """A WebSocket without a valid token is closed with 1008 before the app runs."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Message, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not run")

    scope = {"type": "websocket", "path": "/ws", "headers": []}
    with anyio.fail_after(10):
        await BearerAuth(app, make_verifier())(scope, _never, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_websocket_with_token_gets_claims(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """A WebSocket with a valid token reaches the app with the claims in its scope."""
    subjects: list[str | None] = []

    async def app(scope: Message, receive: Any, send: Any) -> None:
        subjects.append(claims_from(scope).subject)

    headers = [(b"authorization", f"Bearer {server.issue_token()}".encode())]
    scope = {"type": "websocket", "path": "/ws", "headers": headers}
    with anyio.fail_after(10):
        await BearerAuth(app, make_verifier())(scope, _never, _discard)
    assert subjects == ["demo-client"]


async def test_dependency_style_authenticate(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """authenticate() works on anything with a .scope, as a FastAPI dependency would call it."""

    class Request:
        def __init__(self, token: str) -> None:
            self.scope = {
                "type": "http",
                "headers": [(b"authorization", f"Bearer {token}".encode())],
            }

    verifier = make_verifier()
    with anyio.fail_after(10):
        claims = await authenticate(
            verifier, Request(server.issue_token()), scopes=["read:messages"]
        )
        assert claims.subject == "demo-client"
        with pytest.raises(InsufficientScopeError) as info:
            await authenticate(verifier, Request(server.issue_token(scope="x")), scopes=["y"])
    assert challenge(info.value).status == 403


async def test_claims_from_outside_the_middleware() -> None:
    """claims_from() on an unprotected request raises LookupError; a scope key holds claims."""
    with pytest.raises(LookupError, match="not protected"):
        claims_from({"type": "http"})
    with pytest.raises(LookupError):
        claims_from({CLAIMS_KEY: {"sub": "forged"}})


async def test_bad_paths_are_refused(make_verifier: MakeVerifier) -> None:
    """A protected path that does not start with '/' is a ConfigError."""
    with pytest.raises(ConfigError, match="start with"):
        BearerAuth(handler, make_verifier(), paths=["api"])


async def _never() -> Message:
    raise AssertionError("the middleware must not read the request body")


async def _discard(message: Message) -> None:
    pass
