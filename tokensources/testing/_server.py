"""``AuthorizationServer``: the ASGI app, its routes, clients and keys."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio.from_thread
import httpx

from .._errors import ConfigError
from .._source import Clock
from ..verify import JWTVerifier
from ._asgi import Receive, Request, Scope, Send
from ._client_auth import ClientAuthenticator, RegisteredClient, load_jwks
from ._counters import Counters
from ._faults import Faults
from ._inprocess import InProcessTransport
from ._keys import SigningKeys
from ._loopback import serve_asgi
from ._routes import JWKS_PATH, TOKEN_PATH, handle_asgi, metadata_document
from ._token_endpoint import numeric

__all__ = ["DEFAULT_ISSUER", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "AuthorizationServer"]

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"
DEFAULT_ISSUER = "http://testserver"
DEFAULT_SCOPES = ("read:messages", "write:messages")


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

    Args:
        issuer: a fixed issuer URL; None to follow the rules above.
        token_lifetime: seconds an access token lives (also settable later).
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
        self._issuer = issuer.rstrip("/") if issuer else None
        self._served: list[str] = []
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.audience = audience
        self.counters = Counters()
        self.faults = Faults()
        self._keys = SigningKeys()
        self._verifier: JWTVerifier | None = None
        self._verifier_settings: tuple[str, str, Clock] | None = None
        self._clients: dict[str, RegisteredClient] = {}
        self._authenticator = ClientAuthenticator(self._clients, clock)
        if register_demo_client:
            self.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)

    def __repr__(self) -> str:
        return f"AuthorizationServer(issuer={self.issuer!r}, clients={sorted(self._clients)!r})"

    @property
    def issuer(self) -> str:
        """The issuer URL (no trailing slash); see the class docstring for how it is chosen."""
        if self._issuer is not None:
            return self._issuer
        return self._served[-1] if self._served else DEFAULT_ISSUER

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL, built from the issuer."""
        return self.issuer + TOKEN_PATH

    @property
    def jwks_uri(self) -> str:
        """The JWKS URL, built from the issuer."""
        return self.issuer + JWKS_PATH

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
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError("client_id must be a non-empty string")
        if secret is None and jwks is None:
            raise ConfigError("a client needs a secret, a jwks, or both")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigError("secret must be a non-empty string")
        scope_list = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        audience_list = (audiences,) if isinstance(audiences, str) else audiences
        self._clients[client_id] = RegisteredClient(
            client_id=client_id,
            secret=secret,
            keys=load_jwks(jwks) if jwks is not None else (),
            scopes=scope_list,
            audiences=tuple(audience_list) if audience_list is not None else None,
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
            lifetime: seconds until ``exp``; None uses the client's or server's.
            audience: the ``aud`` claim; None uses the server's ``audience``.
        """
        client = self._clients.get(client_id)
        if scope is None:
            scope = client.scopes if client is not None else ()
        scope_text = scope if isinstance(scope, str) else " ".join(scope)
        if lifetime is None:
            lifetime = self._lifetime_for(client) if client is not None else self.token_lifetime
        return self._mint(client_id, scope_text, audience or self.audience, lifetime)

    def _api_verifier(self) -> JWTVerifier:
        """The verifier ``/api/private`` uses, rebuilt when the issuer, audience or clock change."""
        settings = (self.issuer, self.audience, self.clock)
        if self._verifier is None or self._verifier_settings != settings:
            self._verifier = JWTVerifier(
                self.issuer,
                self.audience,
                jwks=self._keys.jwks_bytes,  # same bytes object until the keys change
                leeway=0,
                required_claims=("sub",),
                clock=self.clock,
            )
            self._verifier_settings = settings
        return self._verifier

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Verify a token as ``/api/private`` does and return its claims.

        The same ``JWTVerifier`` checks both (without the scope check):
        the signature against the current keys, ``iss``, ``aud``, ``sub``
        present, and ``exp``, ``nbf``, ``iat`` by the server's clock.

        Raises:
            InvalidTokenError: bad signature, unknown key, wrong ``iss`` or
                ``aud``, no ``sub``, or expired by the server's clock.
        """
        return dict(self._api_verifier().verify_sync(token))

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
            self._served.append(url)
            try:
                yield url
            finally:
                self._served.remove(url)

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
        await handle_asgi(self, scope, receive, send)

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 / OpenID discovery document, built from the issuer."""
        return metadata_document(self)

    # Hooks for the token endpoint.

    def _authenticate_client(self, request: Request, form: Mapping[str, str]) -> RegisteredClient:
        return self._authenticator.authenticate(request.headers, form, self._assertion_audiences())

    def _assertion_audiences(self) -> set[str]:
        """The values a client assertion's ``aud`` may name.

        RFC 7523 §3: the aud names the token endpoint; the issuer is accepted
        too, as OpenID Connect and most servers do. While serving on loopback
        under a fixed issuer, the served URLs are this server as well. The
        request's Host header is not: the client chooses it, so accepting it
        would accept any audience.
        """
        audiences = {self.issuer, self.token_endpoint}
        for url in tuple(self._served):  # a copy: serve_in_thread() changes it from a thread
            audiences |= {url, url + TOKEN_PATH}
        return audiences

    def _lifetime_for(self, client: RegisteredClient) -> float:
        if client.token_lifetime is not None:
            return client.token_lifetime
        return self.token_lifetime

    def _mint(self, client_id: str, scope: str, audience: str | list[str], lifetime: float) -> str:
        now = self.clock()
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "aud": audience,
            "scope": scope,
            "client_id": client_id,
            "iat": numeric(now),
            "exp": numeric(now + lifetime),
            "jti": secrets.token_urlsafe(16),
        }
        return self._keys.sign(claims)
