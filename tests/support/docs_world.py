"""The world the documentation's examples run in: every provider is the testing server.

Examples in the docs use real-looking URLs (``https://idp.example.com``,
``https://dev-123456.okta.com/oauth2/default/v1/token``, an API at
``https://api.example.com``). While a page runs, every ``httpx`` client
created without an explicit transport gets one of the transports below,
which route any non-loopback host to one in-process ``AuthorizationServer``:

- a path ending in ``/token`` goes to the token endpoint;
- a discovery document (OpenID Connect or RFC 8414) is the server's own,
  with its issuer rewritten to the issuer that was asked for, so
  ``from_issuer()`` works for any issuer URL;
- a path ending in ``jwks.json``, ``/keys``, ``/certs`` or ``/jwks`` is the
  JWKS; ``/api/...`` is the demo API; any other path is ``/api/private``.

Loopback URLs (a server an example started itself) go to the network
untouched. Clients are registered on first use with the secret
``DOCS_SECRET`` and whatever scopes and audience they ask for, so an
example may pick any client id; a wrong secret still fails.
"""

from __future__ import annotations

import base64
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._inprocess import InProcessTransport

__all__ = ["DOCS_ISSUER", "DOCS_SECRET", "DocsWorld"]

DOCS_ISSUER = "https://idp.example.com"
DOCS_SECRET = DEMO_CLIENT_SECRET
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
_JWKS_SUFFIXES = ("jwks.json", "/keys", "/certs", "/jwks")
_BASE_SCOPES = {"read:messages", "write:messages"}


def _route(path: str) -> str:
    """The testing server's path for a path on some provider's host."""
    if path.endswith("/token"):
        return "/oauth/token"
    if path.endswith(_JWKS_SUFFIXES):
        return "/.well-known/jwks.json"
    if path.startswith("/api/"):
        return path
    return "/api/private"


def _discovery_issuer(url: httpx.URL) -> str | None:
    """The issuer a discovery request is about, or None if it is not one."""
    path = url.path
    origin = f"{url.scheme}://{url.netloc.decode()}"
    for suffix in _WELL_KNOWN:
        if path.endswith(suffix):  # OpenID Connect: issuer + suffix
            return origin + path[: -len(suffix)]
        if path.startswith(suffix + "/"):  # RFC 8414 §3.1: suffix inserted before the path
            return origin + path[len(suffix) :]
    return None


class DocsWorld:
    """One testing server standing in for every identity provider and API of a page."""

    def __init__(self) -> None:
        self.server = AuthorizationServer(issuer=DOCS_ISSUER)
        self._grants: dict[str, tuple[set[str], set[str]]] = {}
        self._registered: set[str] = set()
        self._async_transports: list[_AsyncWorldTransport] = []
        self._sync_transports: list[_SyncWorldTransport] = []
        self._served: str | None = None
        self._stack = ExitStack()

    def close(self) -> None:
        """Close the sync transports handed out and stop the loopback server if one was started."""
        for transport in self._sync_transports:
            transport.close()
        self._stack.close()

    async def aclose_transports(self) -> None:
        """Close every async transport handed out, even those of clients an example left open.

        The transports are the test's own objects; an example that forgets to
        close a client should not leave a socket for a later test to trip over.
        """
        for transport in self._async_transports:
            await transport.aclose()

    def metadata_for(self, issuer: str) -> dict[str, Any]:
        """The server's discovery document, speaking as ``issuer``."""
        document = self.server.metadata()
        own = self.server.issuer
        return {
            name: value.replace(own, issuer, 1) if isinstance(value, str) else value
            for name, value in document.items()
        }

    def register_from(self, request: httpx.Request) -> None:
        """Register (or widen) the client a token request names, so any client id works."""
        form = dict(parse_qsl(request.content.decode("latin-1")))
        if "client_assertion" in form:
            return  # private_key_jwt clients bring keys only the example knows
        client_id = form.get("client_id") or _basic_user(request)
        if not client_id or client_id == DEMO_CLIENT_ID:
            return
        scopes, audiences = self._grants.setdefault(client_id, (set(_BASE_SCOPES), set()))
        wanted = set(form.get("scope", "").split())
        targets = {form[name] for name in ("audience", "resource") if name in form}
        if client_id in self._registered and wanted <= scopes and targets <= audiences:
            return
        scopes |= wanted
        audiences |= targets
        self.server.register_client(
            client_id,
            DOCS_SECRET,
            scopes=sorted(scopes),
            audiences=sorted(audiences | {self.server.audience}),
        )
        self._registered.add(client_id)

    def served_url(self) -> str:
        """The server's base URL on loopback (started on first use, in a thread)."""
        if self._served is None:
            self._served = self._stack.enter_context(self.server.serve_in_thread())
        return self._served

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """A transport for an ``httpx.AsyncClient`` created by an example."""
        transport = _AsyncWorldTransport(self)
        self._async_transports.append(transport)
        return transport

    def sync_transport(self) -> httpx.BaseTransport:
        """A transport for a sync ``httpx.Client`` created by an example."""
        transport = _SyncWorldTransport(self)
        self._sync_transports.append(transport)
        return transport

    def rewrite(self, request: httpx.Request) -> httpx.Request | httpx.Response:
        """Map a request for some provider to the testing server, or answer discovery."""
        issuer = _discovery_issuer(request.url)
        if issuer is not None:
            return httpx.Response(200, json=self.metadata_for(issuer), request=request)
        path = _route(request.url.path)
        if path == "/oauth/token":
            self.register_from(request)
        request.url = request.url.copy_with(path=path)
        return request


def _basic_user(request: httpx.Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    user = base64.b64decode(value).decode().partition(":")[0]
    return unquote(user.replace("+", " "))


def _is_loopback(url: httpx.URL) -> bool:
    return url.host in _LOOPBACK


class _AsyncWorldTransport(httpx.AsyncBaseTransport):
    def __init__(self, world: DocsWorld) -> None:
        self._world = world
        self._app = InProcessTransport(app=world.server)
        self._network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _is_loopback(request.url):
            return await self._network.handle_async_request(request)
        await request.aread()
        routed = self._world.rewrite(request)
        if isinstance(routed, httpx.Response):
            return routed
        return await self._app.handle_async_request(routed)

    async def aclose(self) -> None:
        await self._network.aclose()


class _SyncWorldTransport(httpx.BaseTransport):
    def __init__(self, world: DocsWorld) -> None:
        self._world = world
        self._network = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if _is_loopback(request.url):
            return self._network.handle_request(request)
        request.read()
        routed = self._world.rewrite(request)
        if isinstance(routed, httpx.Response):
            return routed
        base = httpx.URL(self._world.served_url())
        routed.url = routed.url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        return self._network.handle_request(routed)

    def close(self) -> None:
        self._network.close()
