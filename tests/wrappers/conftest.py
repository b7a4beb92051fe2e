"""Fixtures for the wrapper tests: the testing server, a real source, a scripted inner source."""

from __future__ import annotations

import collections

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import AuthStyle, ClientCredentials, Token, TokenEvent
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer


@pytest.fixture
def credentials(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> ClientCredentials:
    """The real client_credentials source for the demo client, on the fake clock."""
    return ClientCredentials(
        server.token_endpoint,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        http=http,
        clock=clock,
        auth_style=AuthStyle.HEADER,
        allow_insecure_http=True,
    )


class ScriptedSource:
    """A test double for the *inner* source, for interleavings a server cannot pin down.

    It counts calls, can hold every call at a gate until the test opens it,
    takes ``steps`` scheduler checkpoints (like a request in flight), raises
    queued errors, and otherwise delegates to ``inner`` or mints a token
    ``token-<n>`` expiring ``lifetime`` seconds after ``clock()``.
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        lifetime: float | None = 3600.0,
        inner: ClientCredentials | None = None,
        steps: int = 0,
    ) -> None:
        self.clock = clock
        self.steps = steps
        self.lifetime = lifetime
        self.inner = inner
        self.calls = 0
        self.completed = 0
        self.errors: collections.deque[BaseException] = collections.deque()
        self.invalidated: list[Token] = []
        self.closed = False
        self._gate: anyio.Event | None = None

    def hold(self) -> None:
        """Make every following call wait until ``release()``."""
        self._gate = anyio.Event()

    def release(self) -> None:
        """Let held calls (and later ones) go on."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def token(self) -> Token:
        """Count the call, wait at the gate if held, then fail or answer."""
        self.calls += 1
        gate = self._gate
        if gate is not None:
            await gate.wait()
        for _ in range(self.steps):
            await anyio.lowlevel.checkpoint()
        if self.errors:
            raise self.errors.popleft()
        if self.inner is not None:
            token = await self.inner.token()
        else:
            expires_at = None if self.lifetime is None else self.clock() + self.lifetime
            token = Token(f"token-{self.calls}", expires_at=expires_at)
        self.completed += 1
        return token

    def invalidate(self, token: Token) -> None:
        """Record the report."""
        self.invalidated.append(token)

    async def aclose(self) -> None:
        """Record the close."""
        self.closed = True


@pytest.fixture
def scripted(clock: FakeClock) -> ScriptedSource:
    """A scripted inner source minting hour-long tokens on the fake clock."""
    return ScriptedSource(clock)


class EventLog:
    """An ``on_event`` hook that keeps every event, with counts by kind."""

    def __init__(self) -> None:
        self.events: list[TokenEvent] = []

    def __call__(self, event: TokenEvent) -> None:
        self.events.append(event)

    def count(self, kind: str) -> int:
        """How many events of ``kind`` were seen."""
        return sum(1 for event in self.events if event.kind == kind)


@pytest.fixture
def events() -> EventLog:
    """A fresh event log to pass as ``on_event``."""
    return EventLog()
