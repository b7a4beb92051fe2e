"""BearerAuth(paths=...) protects the routes the framework serves, wherever the app is mounted.

Requests are driven as an ASGI server makes them, so that the path reaches
the app exactly as sent (an HTTP client would normalise ``//`` and ``..``
first). ``server_root_path`` reproduces uvicorn's ``--root-path``: since
uvicorn 0.26 it sets ``scope["root_path"]`` and prefixes ``scope["path"]``
with it, and Starlette (≥ 0.33) routes on the path below it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.verify.conftest import MakeVerifier
from tokensources import ConfigError
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, JWTVerifier, claims_from

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, Any]


async def serve(
    app: Any,
    target: str,
    *,
    server_root_path: str = "",
    path_has_root: bool = True,
    token: str | None = None,
    kind: str = "http",
) -> Message:
    """Send one request for ``target`` (as on the request line) and return the first answer.

    Like uvicorn: ``path`` is the percent-decoded target prefixed with
    ``server_root_path``, ``raw_path`` the target as sent, likewise prefixed.
    With ``path_has_root=False``, like servers that leave ``root_path`` out
    of ``path``.
    """
    headers = [(b"host", b"api.example.com")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    prefix = server_root_path if path_has_root else ""
    scope = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http" if kind == "http" else "ws",
        "path": prefix + unquote(target),
        "raw_path": (prefix + target).encode("ascii"),
        "root_path": server_root_path,
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    incoming = {
        "http": [{"type": "http.disconnect"}, {"type": "http.request", "body": b""}],
        "websocket": [
            {"type": "websocket.disconnect", "code": 1000},
            {"type": "websocket.connect"},
        ],
    }[kind]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop() if len(incoming) > 1 else incoming[0]

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return sent[0]


def status(answer: Message) -> int:
    """The HTTP status of a response start, or the WebSocket close code / 101 for accept."""
    if answer["type"] == "http.response.start":
        return int(answer["status"])
    if answer["type"] == "websocket.close":
        return int(answer.get("code", 1000))
    assert answer["type"] == "websocket.accept", answer
    return 101


async def private(request: Request) -> JSONResponse:
    """A protected route: answers with the subject BearerAuth verified."""
    return JSONResponse({"sub": claims_from(request).subject})


async def public(request: Request) -> PlainTextResponse:
    """An open route."""
    return PlainTextResponse("public")


async def socket(websocket: WebSocket) -> None:
    """A protected WebSocket route."""
    await websocket.accept()
    await websocket.close()


def routes() -> list[Any]:
    """The API's own routes: /api/private (HTTP and WebSocket) and /api/public."""
    return [
        Route("/api/private", private),
        WebSocketRoute("/api/private/ws", socket),
        Route("/api/public", public),
    ]


def auth(verifier: JWTVerifier, paths: list[str]) -> Middleware:
    """BearerAuth as Starlette middleware."""
    return Middleware(BearerAuth, verifier=verifier, paths=paths)


def starlette_inside_mount(verifier: JWTVerifier) -> Any:
    """BearerAuth on a sub-app mounted at /v1, with the sub-app's own paths."""
    api = Starlette(routes=routes(), middleware=[auth(verifier, ["/api/private"])])
    return Starlette(routes=[Mount("/v1", app=api)])


def starlette_outside_mount(verifier: JWTVerifier) -> Any:
    """BearerAuth on the outer app, with the full paths through the mount."""
    api = Starlette(routes=routes())
    return Starlette(
        routes=[Mount("/v1", app=api)], middleware=[auth(verifier, ["/v1/api/private"])]
    )


def fastapi_inside_mount(verifier: JWTVerifier) -> Any:
    """BearerAuth on a FastAPI sub-application mounted with app.mount("/v1", sub)."""
    sub = FastAPI()
    sub.router.routes.extend(routes())
    sub.add_middleware(BearerAuth, verifier=verifier, paths=["/api/private"])
    app = FastAPI()
    app.mount("/v1", sub)
    return app


def fastapi_outside_mount(verifier: JWTVerifier) -> Any:
    """BearerAuth on the outer FastAPI app, with the full paths through the mount."""
    sub = FastAPI()
    sub.router.routes.extend(routes())
    app = FastAPI()
    app.mount("/v1", sub)
    app.add_middleware(BearerAuth, verifier=verifier, paths=["/v1/api/private"])
    return app


MOUNTED = {
    "starlette-inside-mount": starlette_inside_mount,
    "starlette-outside-mount": starlette_outside_mount,
    "fastapi-inside-mount": fastapi_inside_mount,
    "fastapi-outside-mount": fastapi_outside_mount,
}


@pytest.mark.parametrize("build", MOUNTED.values(), ids=MOUNTED.keys())
async def test_mounted_routes_need_a_token(
    build: Any, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Under a mount, the protected route answers 401 without a token and 200 with one."""
    app = build(make_verifier())
    assert status(await serve(app, "/v1/api/private")) == 401
    assert status(await serve(app, "/v1/api/private", token=server.issue_token())) == 200
    assert status(await serve(app, "/v1/api/public")) == 200


@pytest.mark.parametrize("build", MOUNTED.values(), ids=MOUNTED.keys())
async def test_mounted_websocket_routes_need_a_token(
    build: Any, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Under a mount, a WebSocket handshake without a token is closed with 1008."""
    app = build(make_verifier())
    assert status(await serve(app, "/v1/api/private/ws", kind="websocket")) == 1008
    accepted = await serve(app, "/v1/api/private/ws", kind="websocket", token=server.issue_token())
    assert status(accepted) == 101


def starlette_app(verifier: JWTVerifier) -> Any:
    """A Starlette app protecting its own /api/private."""
    return Starlette(routes=routes(), middleware=[auth(verifier, ["/api/private"])])


def fastapi_app(verifier: JWTVerifier) -> Any:
    """A FastAPI app protecting its own /api/private."""
    app = FastAPI()
    app.router.routes.extend(routes())
    app.add_middleware(BearerAuth, verifier=verifier, paths=["/api/private"])
    return app


APPS = {"starlette": starlette_app, "fastapi": fastapi_app}


@pytest.mark.parametrize("build", APPS.values(), ids=APPS.keys())
async def test_routes_behind_a_server_root_path_need_a_token(
    build: Any, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Behind uvicorn's --root-path /gateway, /api/private needs a token, /api/public none."""
    app = build(make_verifier())
    assert status(await serve(app, "/api/private", server_root_path="/gateway")) == 401
    token = server.issue_token()
    assert status(await serve(app, "/api/private", server_root_path="/gateway", token=token)) == 200
    assert status(await serve(app, "/api/public", server_root_path="/gateway")) == 200


@pytest.mark.parametrize("build", APPS.values(), ids=APPS.keys())
async def test_root_path_left_out_of_path_is_protected_too(
    build: Any, make_verifier: MakeVerifier
) -> None:
    """A server that sets root_path but leaves it out of path gets the same protection."""
    app = build(make_verifier())
    answer = await serve(app, "/api/private", server_root_path="/gateway", path_has_root=False)
    assert status(answer) == 401
    answer = await serve(app, "/api/public", server_root_path="/gateway", path_has_root=False)
    assert status(answer) == 200


async def everything(scope: Message, receive: Any, send: Any) -> None:
    """A catch-all ASGI app that serves any path (as a lenient router might)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})


@pytest.mark.parametrize(
    "target",
    [
        "/api/private",
        "/api/private/",
        "/api/private/deeper",
        "/API/Private",
        "/api//private",
        "//api/private",
        "/api/./private",
        "/api/x/../private",
        "/public/../api/private",
        "/../api/private",
        "/api/%70rivate",
        "/api/%2570rivate",
        "/api%2Fprivate",
        "/api%5Cprivate",
        "/api/private/..%2F..%2Fpublic",
        "/api/private%2F",
    ],
)
@pytest.mark.parametrize("root", ["", "/gateway"], ids=["no-root-path", "root-path"])
async def test_spellings_of_a_protected_path_need_a_token(
    target: str, root: str, make_verifier: MakeVerifier
) -> None:
    """Case, //, \\, dot segments and percent-encoding never lead around the prefix."""
    app = BearerAuth(everything, make_verifier(), paths=["/api/private"])
    assert status(await serve(app, target, server_root_path=root)) == 401


@pytest.mark.parametrize(
    "target",
    ["/api/public", "/api/privatex", "/api/private-docs", "/apiprivate", "/", "/api"],
)
@pytest.mark.parametrize("root", ["", "/gateway"], ids=["no-root-path", "root-path"])
async def test_other_paths_stay_open(target: str, root: str, make_verifier: MakeVerifier) -> None:
    """Paths outside the prefix, on whole segments, need no token."""
    app = BearerAuth(everything, make_verifier(), paths=["/api/private"])
    assert status(await serve(app, target, server_root_path=root)) == 200


@pytest.mark.parametrize("prefix", ["/API/Private/", "/api//private", "/api/./private"])
async def test_configured_prefixes_are_normalised(prefix: str, make_verifier: MakeVerifier) -> None:
    """A prefix written with a trailing slash, other case, // or . protects the same path."""
    app = BearerAuth(everything, make_verifier(), paths=[prefix])
    assert status(await serve(app, "/api/private")) == 401
    assert status(await serve(app, "/api/public")) == 200


@pytest.mark.parametrize("paths", ["/api", ["api"], [""], [7]])
def test_unusable_paths_are_config_errors(paths: Any) -> None:
    """paths given as one string, or a prefix not starting with '/', raise ConfigError."""
    with pytest.raises(ConfigError, match="paths"):
        BearerAuth(everything, None, paths=paths)  # type: ignore[arg-type]
