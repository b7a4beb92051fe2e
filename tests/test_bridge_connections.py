"""A source that changes event loops closes the connections it opened on the one it left.

The source's own HTTP client keeps a pooled connection to the token endpoint
(the testing server on loopback). Used first on an event loop of the test's
and then by a thread (through the bridge's private loop), the source must
close that connection on its first loop, whether that loop still runs or has
ended, instead of dropping it open (``ResourceWarning: unclosed transport``
when it is collected). Both backends for the first loop and for the private
loop.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Iterator

import anyio
import anyio.to_thread
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, blocking
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

BACKENDS = pytest.mark.parametrize("backend", ["asyncio", "trio"])
PRIVATE = pytest.mark.parametrize("private", ["asyncio", "trio"])
LIFETIME = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the server and the source."""
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[AuthorizationServer]:
    """The testing server on loopback, in a background thread."""
    server = AuthorizationServer(clock=clock)
    with server.serve_in_thread():
        yield server


def _source(server: AuthorizationServer, clock: FakeClock) -> Reuse:
    credentials = ClientCredentials(
        server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, clock=clock
    )
    return reuse(credentials, clock=clock)


def _unclosed(run: Callable[[], object]) -> list[str]:
    """Run ``run``, collect garbage, and return the unclosed-resource warnings raised meanwhile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        run()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@BACKENDS
@PRIVATE
def test_a_loop_that_ended_leaves_no_connection_open(
    server: AuthorizationServer, clock: FakeClock, backend: str, private: str
) -> None:
    """A source used in one anyio.run(), then from a thread, closes the first loop's connection."""
    source = _source(server, clock)

    def run() -> None:
        anyio.run(source.token, backend=backend)
        clock.advance(LIFETIME)  # expired: the thread's call refreshes on the private loop
        with blocking(source, portal_backend=private) as tokens:
            tokens.token()

    assert _unclosed(run) == []
    assert server.counters.token_requests == 2


@BACKENDS
@PRIVATE
def test_a_loop_that_still_runs_gets_its_connection_closed(
    server: AuthorizationServer, clock: FakeClock, backend: str, private: str
) -> None:
    """A source moved to the private loop while its first loop runs closes its old connection."""
    source = _source(server, clock)

    async def main() -> list[str]:
        await source.token()
        clock.advance(LIFETIME)
        with blocking(source, portal_backend=private) as tokens:
            # Checked while this loop runs: the old client is being closed, not dropped.
            return await anyio.to_thread.run_sync(_unclosed, tokens.token)

    assert anyio.run(main, backend=backend) == []
    assert server.counters.token_requests == 2


@BACKENDS
def test_a_source_left_open_is_closed_when_its_loop_ends(
    server: AuthorizationServer, clock: FakeClock, backend: str
) -> None:
    """A source never closed, used on one loop only, leaves no connection open after that loop."""
    source = _source(server, clock)
    assert _unclosed(lambda: anyio.run(source.token, backend=backend)) == []
    # The client closed at the loop's end is replaced on the next loop.
    clock.advance(LIFETIME)
    assert _unclosed(lambda: anyio.run(source.token, backend=backend)) == []
    assert server.counters.token_requests == 2
