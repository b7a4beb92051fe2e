"""``AuthorizationServer``: the public face of the server's parts, and its transports.

The parts (wired in ``_assembly``), each in its own module, receive what
they use and nothing else:

- ``Issuer``: the issuer URL, default audience and token lifetime, the clock;
- ``SigningKeys``: the keys tokens are signed with, published as the JWKS;
- ``ClientRegistry``: the registered clients;
- ``ClientAuthenticator``: one ``ClientAuthMethod`` per authentication method;
- ``AccessTokens``: signs access tokens and verifies them;
- grants (``ClientCredentialsGrant``), by ``grant_type``;
- endpoints: ``TokenEndpoint``, ``JwksEndpoint``, ``MetadataEndpoint``, ``DemoApi``;
- ``Counters`` and ``Faults``, shared by the endpoints that count and misbehave.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio.from_thread
import httpx

from .._source import Clock
from ._asgi import Receive, Scope, Send
from ._assembly import assemble
from ._clients import DEFAULT_SCOPES
from ._counters import Counters
from ._faults import Faults
from ._inprocess import InProcessTransport
from ._issuer import DEFAULT_ISSUER, Issuer
from ._loopback import serve_asgi

__all__ = ["DEFAULT_ISSUER", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "AuthorizationServer"]

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"


class AuthorizationServer:
    """A real OAuth 2.0 authorization server for tests, demos and benchmarks.

    The object is an ASGI application. Use it in-process through
    ``client()`` (an ``httpx.AsyncClient`` on ``httpx.ASGITransport``), or
    over real HTTP on loopback with ``serve()`` (in the current event loop)
    or ``serve_in_thread()`` (in a background thread).

    It issues RS256 JWT access tokens by the client_credentials grant to
    clients registered with ``register_client`` (a demo client,
    ``demo-client`` / ``demo-secret``, is registered by default), publishes
    its keys and metadata, and serves a protected demo API. ``counters``
    record what it saw and ``faults`` make it misbehave on purpose.

    The issuer (the ``iss`` of its tokens and the base of every URL in its
    metadata) is, in this order: the ``issuer`` given to the constructor;
    while serving on loopback, the served base URL; otherwise
    ``http://testserver``, the base URL of ``client()``.

    ``token_lifetime``, ``clock`` and ``audience`` may be changed at any
    time; the next request sees the change.

    Args:
        issuer: a fixed issuer URL; None to follow the rules above.
        token_lifetime: seconds an access token lives (also settable later).
            ``expires_in`` announces it in whole seconds (rounded down, and
            at least 1 for a positive lifetime); the token's ``exp`` is exact.
        clock: the wall clock used for ``iat``/``exp`` and every expiry check.
        audience: the ``aud`` of tokens by default, and what ``/api/private``
            requires.
        register_demo_client: register ``demo-client`` / ``demo-secret`` with
            the scopes ``read:messages`` and ``write:messages``.
    """

    def __init__(
        self,
        *,
        issuer: str | None = None,
        token_lifetime: float = 3600,
        clock: Clock = time.time,
        audience: str = "https://api.example.com",
        register_demo_client: bool = True,
    ) -> None:
        self._counters = Counters()
        self._faults = Faults()
        self._issuer = Issuer(
            url=issuer, audience=audience, token_lifetime=token_lifetime, clock=clock
        )
        parts = assemble(self._issuer, counters=self._counters, faults=self._faults)
        self._keys = parts.keys
        self._clients = parts.clients
        self._tokens = parts.tokens
        self._metadata = parts.metadata
        self._router = parts.router
        if register_demo_client:
            self.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)

    def __repr__(self) -> str:
        return f"AuthorizationServer(issuer={self.issuer!r}, clients={self._clients.ids()!r})"

    @property
    def counters(self) -> Counters:
        """What the server has seen: requests by endpoint and client, tokens, errors, faults."""
        return self._counters

    @property
    def faults(self) -> Faults:
        """The misbehaviours queued for the next requests, and the latency of token answers."""
        return self._faults

    @property
    def token_lifetime(self) -> float:
        """Seconds an access token lives, unless its client was registered with its own."""
        return self._issuer.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self._issuer.token_lifetime = seconds

    @property
    def clock(self) -> Clock:
        """The wall clock (epoch seconds) for ``iat``/``exp`` and every expiry check."""
        return self._issuer.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._issuer.clock = clock

    @property
    def audience(self) -> str:
        """The ``aud`` of tokens by default, and what ``/api/private`` requires."""
        return self._issuer.audience

    @audience.setter
    def audience(self, audience: str) -> None:
        self._issuer.audience = audience

    @property
    def issuer(self) -> str:
        """The issuer URL (no trailing slash); see the class docstring for how it is chosen."""
        return self._issuer.url

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL, built from the issuer."""
        return self._issuer.token_endpoint

    @property
    def jwks_uri(self) -> str:
        """The JWKS URL, built from the issuer."""
        return self._issuer.jwks_uri

    def register_client(
        self,
        client_id: str,
        secret: str | None = None,
        *,
        jwks: Mapping[str, Any] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        audiences: Iterable[str] | None = None,
        token_lifetime: float | None = None,
    ) -> None:
        """Register (or replace) a client.

        A client with a ``secret`` may authenticate with ``client_secret_basic``
        or ``client_secret_post``; one with ``jwks`` (a JWK Set of public keys,
        or a single JWK) with ``private_key_jwt``; one with both, either way.

        Args:
            client_id: the client id.
            secret: the client secret.
            jwks: public keys that verify the client's assertions.
            scopes: the scopes the client may request; all of them when it
                requests none.
            audiences: the audiences (``audience`` or ``resource``) it may
                request; None allows only the server's ``audience``.
            token_lifetime: seconds its tokens live; None uses the server's.

        Raises:
            ConfigError: no credential, an empty id, or unusable keys.
        """
        self._clients.register(
            client_id,
            secret,
            jwks=jwks,
            scopes=scopes,
            audiences=audiences,
            token_lifetime=token_lifetime,
        )

    def rotate_keys(self, *, keep_old: bool = False) -> str:
        """Start signing with a fresh RSA key and return its ``kid``.

        By default the old key is withdrawn: it leaves the JWKS and tokens it
        signed are rejected by ``/api/private`` (401). With ``keep_old`` the
        old key stays published and its tokens stay valid (a key rollover).
        """
        return self._keys.rotate(keep_old=keep_old).kid

    def jwks(self) -> dict[str, Any]:
        """The JWKS document the server publishes (a fresh copy)."""
        return self._keys.jwks()

    def issue_token(
        self,
        client_id: str = DEMO_CLIENT_ID,
        *,
        scope: str | Iterable[str] | None = None,
        lifetime: float | None = None,
        audience: str | list[str] | None = None,
    ) -> str:
        """Sign an access token directly, without an HTTP request.

        Not counted in ``counters``. The client need not be registered.

        Args:
            client_id: the ``sub`` and ``client_id`` claims.
            scope: a space-separated string or a list; None gives the
                registered client's scopes (or none for an unknown client).
            lifetime: seconds until ``exp`` (fractions kept); None uses the
                client's or server's.
            audience: the ``aud`` claim; None uses the server's ``audience``.
        """
        client = self._clients.get(client_id)
        if scope is None:
            scope = client.scopes if client is not None else ()
        scope_text = scope if isinstance(scope, str) else " ".join(scope)
        if lifetime is None:
            default = self._issuer.token_lifetime
            lifetime = client.lifetime_or(default) if client is not None else default
        return self._tokens.mint(client_id, scope_text, audience or self.audience, lifetime)

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Verify a token as ``/api/private`` does and return its claims.

        The same ``JWTVerifier`` checks both (without the scope check):
        the signature against the current keys, ``iss``, ``aud``, ``sub``
        present, and ``exp``, ``nbf``, ``iat`` by the server's clock.

        Raises:
            InvalidTokenError: bad signature, unknown key, wrong ``iss`` or
                ``aud``, no ``sub``, or expired by the server's clock.
        """
        return dict(self._tokens.verify(token))

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` that talks to this server in-process.

        Its ``base_url`` is the issuer. Keyword arguments go to
        ``httpx.AsyncClient`` (they may override ``base_url`` and
        ``transport``). A dropped connection raises
        ``httpx.RemoteProtocolError``, as over a socket.
        """
        kwargs.setdefault("base_url", self.issuer)
        kwargs.setdefault("transport", InProcessTransport(app=self))
        return httpx.AsyncClient(**kwargs)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve over real HTTP/1.1 on ``host:port`` in the current event loop.

        Yields the base URL, e.g. ``http://127.0.0.1:54321`` (``port=0``
        picks a free port). While serving, the issuer is that URL unless one
        was given to the constructor. Works on asyncio and trio.

        Concurrency and cancellation: connections are served by tasks of the
        current event loop; leaving the context (or cancelling the task that
        holds it) closes the listener and every open connection.
        """
        async with serve_asgi(self, host, port) as url:
            self._issuer.serving(url)
            try:
                yield url
            finally:
                self._issuer.stopped_serving(url)

    @contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over real HTTP/1.1 from a background thread with its own event loop.

        Yields the base URL once the server accepts connections, and stops
        the server and its thread on exit. Useful for synchronous code, other
        processes and command-line use.
        """
        with (
            anyio.from_thread.start_blocking_portal() as portal,
            portal.wrap_async_context_manager(self.serve(host, port)) as url,
        ):
            yield url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3.0 entry point."""
        await self._router(scope, receive, send)

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 / OpenID discovery document, built from the issuer."""
        return self._metadata.document()
