"""``AuthorizationServer``: the public face of the server's parts, and its transports.

The parts (wired in ``_assembly``, one set per issuer), each in its own
module, receive what they use and nothing else:

- ``Issuer``: the issuer URL, default audience, token lifetime, strictness, the clock;
- ``SigningKeys``: the keys tokens are signed with, published as the JWKS;
- ``ClientRegistry``: the registered clients;
- ``ClientAuthenticator``: one ``ClientAuthMethod`` per authentication method;
- ``AccessTokens``: signs access tokens and verifies them;
- ``ClaimMappings`` and ``Quotas``: extra claims, and tokens per client per window;
- grants (``ClientCredentialsGrant``), by ``grant_type``;
- endpoints: ``TokenEndpoint``, ``JwksEndpoint``, ``MetadataEndpoint``,
  ``IntrospectionEndpoint``, ``DemoApi``.

Shared by every issuer of a server: ``Counters``, ``Faults``, the queued
answers and the ``RequestLog``; ``IssuerDirectory`` finds the issuer of a
request, ``Front`` (the ASGI app) answers and logs it, ``DebugPage`` shows it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx

from .._source import Clock
from ._answers import QueuedAnswers
from ._asgi import Receive, Scope, Send
from ._assembly import IssuerParts, assemble
from ._clients import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from ._config import read_server_config
from ._counters import Counters
from ._debug_page import DebugPage
from ._directory import IssuerDirectory
from ._faults import Faults
from ._front import Front
from ._inprocess import InProcessTransport
from ._issuer import DEFAULT_ISSUER, Issuer
from ._issuer_api import IssuerApi
from ._loopback import serve_asgi
from ._paths import DEBUG_PATH
from ._request_log import DEFAULT_LOG_SIZE, RequestLog
from ._tenant import Tenant
from ._workload_issuer import WorkloadIssuer

__all__ = ["DEFAULT_ISSUER", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "AuthorizationServer"]


class AuthorizationServer(IssuerApi):
    """A real OAuth 2.0 authorization server for tests, demos and benchmarks.

    The object is an ASGI application. Use it in-process through
    ``client()`` (an ``httpx.AsyncClient`` on ``httpx.ASGITransport``), or
    over real HTTP on loopback with ``serve()`` (in the current event loop)
    or ``serve_in_thread()`` (in a background thread).

    It issues RS256 JWT access tokens by the client_credentials grant to
    clients registered with ``register_client`` (a demo client,
    ``demo-client`` / ``demo-secret``, is registered by default), publishes
    its keys and metadata, answers resource servers' RFC 7662 introspection
    requests at ``/oauth/introspect`` (for its signed tokens and for opaque
    ones from ``issue_opaque_token``; ``revoke_token`` makes either
    inactive), and serves a protected demo API. ``counters``
    record what it saw, ``log`` every request (without a secret), and
    ``faults`` make it misbehave on purpose. ``tenant(name)`` adds an
    issuer under ``/<name>/``; ``/_debug`` is a page that shows it all.

    The issuer (the ``iss`` of its tokens and the base of every URL in its
    metadata) is, in this order: the ``issuer`` given to the constructor;
    while serving on loopback, the served base URL; otherwise
    ``http://testserver``, the base URL of ``client()``.

    ``token_lifetime``, ``clock``, ``audience`` and ``strict`` may be
    changed at any time; the next request sees the change.

    Args:
        issuer: a fixed issuer URL; None to follow the rules above.
        token_lifetime: seconds an access token lives (also settable later).
            ``expires_in`` announces it in whole seconds (rounded down, and
            at least 1 for a positive lifetime); the token's ``exp`` is exact.
        clock: the wall clock used for ``iat``/``exp`` and every expiry
            check, by every issuer of the server.
        audience: the ``aud`` of tokens by default, and what ``/api/private``
            requires.
        register_demo_client: register ``demo-client`` / ``demo-secret`` with
            the scopes ``read:messages`` and ``write:messages`` (in every tenant too).
        strict: refuse legacy client behaviour (see ``strict``).
        request_log_size: how many requests ``log`` keeps.
    """

    def __init__(
        self,
        *,
        issuer: str | None = None,
        token_lifetime: float = 3600,
        clock: Clock = time.time,
        audience: str = "https://api.example.com",
        register_demo_client: bool = True,
        strict: bool = False,
        request_log_size: int = DEFAULT_LOG_SIZE,
    ) -> None:
        self._counters = Counters()
        self._faults = Faults()
        answers = QueuedAnswers()
        log = RequestLog(request_log_size)
        self._root_issuer = Issuer(
            url=issuer,
            audience=audience,
            token_lifetime=token_lifetime,
            clock=clock,
            strict=strict,
        )
        root = self._assemble(self._root_issuer, answers)
        super().__init__(root, log=log, answers=answers, log_issuer=None)
        self._demo_client = register_demo_client
        self._directory = IssuerDirectory(root, self._assemble_tenant)
        self._tenants: dict[str, Tenant] = {}
        self._front = Front(
            directory=self._directory,
            answers=answers,
            log=log,
            clock=self._root_issuer.now,
            debug=DebugPage(directory=self._directory, log=log),
        )
        if register_demo_client:
            self.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)

    def _assemble(self, issuer: Issuer, answers: QueuedAnswers) -> IssuerParts:
        return assemble(issuer, counters=self._counters, faults=self._faults, answers=answers)

    def _assemble_tenant(self, name: str) -> IssuerParts:
        return self._assemble(Issuer.tenant(self._root_issuer, name), self._answers)

    def __repr__(self) -> str:
        return f"AuthorizationServer(issuer={self.issuer!r}, clients={self.client_ids()!r})"

    @classmethod
    def from_config(cls, path: str | Path, **overrides: Any) -> AuthorizationServer:
        """A server set up as the JSON or TOML file at ``path`` says.

        The file gives the server's settings, clients, claim mappings and
        quotas, and its tenants with theirs (see "Configuration files" in
        the docs). ``overrides`` are constructor arguments that win over
        the file (``clock=...``). TOML needs Python 3.11 or later.

        Raises:
            ConfigError: the file cannot be read, is not valid JSON or TOML,
                or describes something the server cannot be; the message
                names the file, the line where the parser knows it, and the
                field.
        """
        config = read_server_config(Path(path))
        server = cls(**(config.options | overrides))
        config.apply(server, server.tenant)
        return server

    @property
    def counters(self) -> Counters:
        """What the server has seen: requests by endpoint and client, tokens, errors, faults."""
        return self._counters

    @property
    def faults(self) -> Faults:
        """The misbehaviours queued for the next requests, and the latency of token answers."""
        return self._faults

    @property
    def log(self) -> RequestLog:
        """Every request the server saw (every issuer), without a secret, with assertions."""
        return self._log

    @property
    def clock(self) -> Clock:
        """The wall clock (epoch seconds) for ``iat``/``exp`` and every expiry check."""
        return self._root_issuer.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._root_issuer.clock = clock

    @property
    def workload_issuer(self) -> WorkloadIssuer:
        """The workload platform this server trusts for subject tokens and assertions.

        Its tokens (``mint_kubernetes``, ``mint_github``, token files) are
        accepted by the token exchange and JWT-bearer grants, and can be
        registered as federated client assertions (its ``jwks()``).
        """
        workload = self._parts.workload
        assert workload is not None  # noqa: S101 - assemble() always makes one
        return workload

    @property
    def debug_url(self) -> str:
        """The URL of the page that shows the issuers, clients, requests and tokens."""
        return self._root_issuer.url + DEBUG_PATH

    def tenant(self, name: str) -> Tenant:
        """The issuer named ``name`` (made on first use), under ``/<name>/``.

        Nothing but the name is needed: the tenant gets its own keys,
        clients (the demo client, when the server registers it), metadata,
        claim mappings and quotas. Asking again returns the same ``Tenant``.

        Raises:
            ConfigError: ``name`` is not 1 to 64 letters, digits, ``.``,
                ``_``, ``~`` or ``-`` starting with a letter or digit, or is a
                path of the server itself (``oauth``, ``api``).
        """
        parts, new = self._directory.tenant(name)
        if new:
            handle = self._tenants[name] = Tenant(parts, log=self._log, answers=self._answers)
            if self._demo_client:
                handle.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        return self._tenants[name]

    @property
    def tenants(self) -> dict[str, Tenant]:
        """The tenants made so far, by name, in the order they were made."""
        return dict(self._tenants)

    @property
    def enqueued(self) -> list[str]:
        """The queued answers (``enqueue_error``, ``enqueue_response``) still waiting, described."""
        return [answer.describe() for answer in self._answers.pending()]

    def assert_enqueued_consumed(self) -> None:
        """Assert that every queued answer has answered its requests.

        The pytest fixtures call this when a test ends: an answer still
        queued then never matched a request, so the test did not test what
        it meant to.

        Raises:
            AssertionError: naming each answer left and the requests seen on its path.
        """
        pending = self._answers.pending()
        if not pending:
            return
        lines = [f"{len(pending)} queued answer(s) never matched a request:"]
        for answer in pending:
            lines.append(f"  {answer.describe()}")
            seen = self._log.requests(path=answer.path)
            listed = ", ".join(entry.summary() for entry in seen[-5:]) or "none"
            lines.append(f"    requests seen on {answer.path}: {listed}")
        raise AssertionError("\n".join(lines))

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
    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> AsyncIterator[str]:
        """Serve over real HTTP/1.1 on ``host:port`` in the current event loop.

        Yields the base URL, e.g. ``http://127.0.0.1:54321`` (``port=0``
        picks a free port). While serving, the issuer is that URL unless one
        was given to the constructor. Works on asyncio and trio.

        With ``tls`` (a server-side ``ssl.SSLContext``, e.g. made with
        ``trustme``) it serves HTTPS; when the context asks for client
        certificates (``verify_mode = ssl.CERT_OPTIONAL``), the mutual-TLS
        client authentication methods and certificate-bound tokens work.

        Concurrency and cancellation: connections are served by tasks of the
        current event loop; leaving the context (or cancelling the task that
        holds it) closes the listener and every open connection.
        """
        async with serve_asgi(self, host, port, tls=tls) as url:
            self._root_issuer.serving(url)
            try:
                yield url
            finally:
                self._root_issuer.stopped_serving(url)

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
        await self._front(scope, receive, send)
