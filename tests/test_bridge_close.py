"""Closing a TokenAuth answers every thread still waiting for a token call on its private loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import httpx
import pytest

from tokensources import Token, TokenAuth
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import reuse

THREADS = 8
TIMEOUT = 10.0


class HungSource:
    """A token source whose every call hangs until cancelled, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()

    async def token(self) -> Token:
        self.calls += 1
        self.called.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    def invalidate(self, token: Token) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    """The testing server on loopback, in a background thread."""
    with AuthorizationServer().serve_in_thread() as url:
        yield url


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_close_cancels_a_hung_token_call_and_answers_every_waiting_thread(
    base: str, backend: str
) -> None:
    """Threads blocked on a token call that never ends all get an error once ``close()`` runs."""
    source = HungSource()
    auth = TokenAuth(reuse(source), portal_backend=backend)
    outcomes: list[BaseException | None] = []

    def request() -> None:
        with httpx.Client(base_url=base, auth=auth, timeout=TIMEOUT) as api:
            try:
                api.get("/api/private")
            except RuntimeError as exc:
                outcomes.append(exc)
            else:  # pragma: no cover - the source never answers
                outcomes.append(None)

    threads = [threading.Thread(target=request) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    assert source.called.wait(TIMEOUT)
    closing = threading.Thread(target=auth.close)
    closing.start()
    closing.join(TIMEOUT)
    for thread in threads:
        thread.join(TIMEOUT)
    assert not closing.is_alive(), "close() waited for a call that never ends"
    assert not any(thread.is_alive() for thread in threads), "a thread was left waiting"
    assert len(outcomes) == THREADS
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)
    assert source.calls == 1  # one call for all the threads (single flight)
