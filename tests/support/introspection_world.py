"""An authorization server's introspection endpoint, alone in a tiny ASGI app, for the tests.

The endpoint is the package's own (``tokensources.testing._introspection``),
built from the testing server's real parts: an issuer on the test's clock,
its signing keys and access tokens, and a client registry in which the
resource server is registered with a secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from tests.support.clock import FakeClock
from tokensources.testing._access_tokens import AccessTokens
from tokensources.testing._client_auth import ClientAuthenticator
from tokensources.testing._clients import ClientRegistry
from tokensources.testing._introspection import INTROSPECTION_PATH, IntrospectionEndpoint
from tokensources.testing._issuer import Issuer
from tokensources.testing._secret_auth import ClientSecretBasic
from tokensources.testing._signing_keys import SigningKeys
from tokensources.verify import Introspection

ISSUER = "https://idp.example.com"
AUDIENCE = "https://api.example.com"
RESOURCE_CLIENT = ("resource-server", "rs-secret-7f3a9c")
INTROSPECTION_URL = ISSUER + INTROSPECTION_PATH

Message = MutableMapping[str, Any]
ASGI = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


@dataclass
class IntrospectionWorld:
    """One issuer's introspection endpoint and what it is built from."""

    clock: FakeClock
    issuer: Issuer
    keys: SigningKeys
    tokens: AccessTokens
    clients: ClientRegistry
    endpoint: IntrospectionEndpoint
    gate: Gate = field(init=False)

    def __post_init__(self) -> None:
        self.gate = Gate(self.endpoint)

    def jwt(
        self, scope: str = "read:messages", *, lifetime: float = 3600, audience: str = AUDIENCE
    ) -> str:
        """A signed access token of the issuer."""
        return self.tokens.mint("demo-client", scope, audience, lifetime)

    def opaque(
        self, scope: str = "read:messages", *, lifetime: float = 3600, audience: str = AUDIENCE
    ) -> str:
        """An opaque access token the endpoint answers for."""
        return self.endpoint.issue_opaque(scope=scope, lifetime=lifetime, audience=audience)

    def http(self, app: Any = None) -> httpx.AsyncClient:
        """An in-process client to the endpoint (through the gate), or to ``app``."""
        transport = httpx.ASGITransport(app=self.gate if app is None else app)
        return httpx.AsyncClient(transport=transport, base_url=ISSUER)

    def verifier(self, http: httpx.AsyncClient, **kwargs: Any) -> Introspection:
        """An ``Introspection`` verifier for the resource ``AUDIENCE`` over ``http``."""
        kwargs.setdefault("client", RESOURCE_CLIENT)
        kwargs.setdefault("audience", AUDIENCE)
        kwargs.setdefault("issuer", ISSUER)
        kwargs.setdefault("clock", self.clock)
        return Introspection(kwargs.pop("url", INTROSPECTION_URL), http=http, **kwargs)


class Gate:
    """The endpoint behind a gate: while ``closed``, requests wait for ``open()``.

    ``arrived`` counts requests as they reach the gate, before the endpoint
    sees them.
    """

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.arrived = 0
        self._closed: anyio.Event | None = None

    def close(self) -> None:
        """Hold every request from now on until ``open()`` (call it in the event loop)."""
        self._closed = anyio.Event()

    def open(self) -> None:
        """Let the held requests (and every later one) through."""
        if self._closed is not None:
            self._closed.set()
            self._closed = None

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        """Count the request, wait while closed, then let the endpoint answer."""
        self.arrived += 1
        closed = self._closed
        if closed is not None:
            await closed.wait()
        await self.app(scope, receive, send)


def make_world(clock: FakeClock) -> IntrospectionWorld:
    """An issuer with its introspection endpoint, on ``clock``, the resource server registered."""
    issuer = Issuer(url=ISSUER, audience=AUDIENCE, token_lifetime=3600, clock=clock)
    keys = SigningKeys()
    tokens = AccessTokens(keys, issuer)
    clients = ClientRegistry()
    clients.register(RESOURCE_CLIENT[0], RESOURCE_CLIENT[1])
    endpoint = IntrospectionEndpoint(
        issuer=issuer,
        tokens=tokens,
        authenticator=ClientAuthenticator([ClientSecretBasic(clients)]),
    )
    return IntrospectionWorld(clock, issuer, keys, tokens, clients, endpoint)
