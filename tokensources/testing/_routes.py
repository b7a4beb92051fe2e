"""Routing of ASGI requests to the testing server's endpoints, and its documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import handle_api_request
from ._asgi import (
    Receive,
    Request,
    RequestTooLarge,
    Response,
    Scope,
    Send,
    json_response,
    read_request,
    send_response,
)
from ._client_auth import ASSERTION_ALGORITHMS
from ._faults import fault_response
from ._token_endpoint import handle_token_request

if TYPE_CHECKING:
    from ._server import AuthorizationServer

__all__ = ["JWKS_PATH", "METADATA_PATHS", "TOKEN_PATH", "handle_asgi", "metadata_document"]

TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


async def handle_asgi(
    server: AuthorizationServer, scope: Scope, receive: Receive, send: Send
) -> None:
    """Serve one ASGI connection scope: lifespan events or one HTTP request."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return  # nothing here speaks websockets
    try:
        request = await read_request(scope, receive)
    except RequestTooLarge:
        payload = {"error": "invalid_request", "error_description": "request body too large"}
        await send_response(send, json_response(413, payload))
        return
    await send_response(send, await _route(server, request))


async def _route(server: AuthorizationServer, request: Request) -> Response:
    path = request.path
    if path == TOKEN_PATH:
        return await handle_token_request(server, request)
    if path.startswith("/api/"):
        return await handle_api_request(server, request)
    if request.method != "GET":
        return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
    if path == JWKS_PATH:
        return _jwks_response(server)
    if path in METADATA_PATHS:
        server.counters.discovery_requests += 1
        return json_response(200, metadata_document(server))
    return json_response(404, {"error": "not_found"})


def _jwks_response(server: AuthorizationServer) -> Response:
    server.counters.jwks_requests += 1
    fault = server.faults.take_jwks_fault()
    if fault is not None:
        server.counters.faults_injected += 1
        return fault_response(fault)
    return Response(200, server._keys.jwks_bytes(), [(b"cache-control", b"max-age=300")])


def metadata_document(server: AuthorizationServer) -> dict[str, Any]:
    """The RFC 8414 / OpenID discovery document of ``server``, built from its issuer."""
    clients = server._clients.values()
    scopes = sorted({scope for client in clients for scope in client.scopes})
    return {
        "issuer": server.issuer,
        "token_endpoint": server.token_endpoint,
        "jwks_uri": server.jwks_uri,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": scopes,
    }


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to start or stop, but a server that sends lifespan events
    # expects each one acknowledged.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
