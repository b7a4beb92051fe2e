"""Guarantee 5: cancelling callers never leaves others hanging or the cache broken."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources import AuthStyle, ClientCredentials, Token, TokenEvent
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import buffer, reuse

pytestmark = pytest.mark.anyio

TRIALS = 1_000


@pytest.fixture
async def loopback(server: AuthorizationServer) -> AsyncIterator[ClientCredentials]:
    """The real source talking to the testing server over loopback TCP.

    Real sockets give a request many suspension points (connect, send,
    receive), so a cancellation can land before, during or after it.
    """
    async with server.serve() as url, httpx.AsyncClient() as http:
        yield ClientCredentials(
            url + "/oauth/token",
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            http=http,
            auth_style=AuthStyle.HEADER,
        )


# httpx's request body is an async generator that trio reports when a request
# is cancelled mid-send (encode/httpx#3686); the warning is httpx's, not ours.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*ByteStream.__aiter__:pytest.PytestUnraisableExceptionWarning"
)
async def test_cancelling_the_refreshing_caller_at_random_points(
    server: AuthorizationServer, loopback: ClientCredentials, anyio_backend: str
) -> None:
    """1 000 trials cancel the refreshing caller at a random point; waiters always get a token."""
    rng = random.Random(f"cancel-{anyio_backend}")
    outcomes: Counter[str] = Counter()
    for _ in range(TRIALS):
        outcomes[await one_cancellation_trial(server, loopback, rng.randrange(12))] += 1
    # Every kind of cancellation point was actually hit.
    assert set(outcomes) == {"before the request", "during the request", "after the answer"}
    assert sum(outcomes.values()) == TRIALS


async def one_cancellation_trial(
    server: AuthorizationServer, source: ClientCredentials, checkpoints: int
) -> str:
    """Cancel the refreshing caller after ``checkpoints`` scheduler steps; check everything."""
    requests_before = server.counters.token_requests
    refreshing = anyio.Event()

    def on_event(event: TokenEvent) -> None:
        if event.kind == "refresh_started":
            refreshing.set()

    cache = reuse(source, on_event=on_event)
    victim_scope = anyio.CancelScope()
    victim: list[Token] = []
    waiters: list[Token] = []

    async def refreshing_caller() -> None:
        with victim_scope:
            victim.append(await cache.token())

    async def waiter() -> None:
        waiters.append(await cache.token())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(refreshing_caller)
            await refreshing.wait()
            for _ in range(3):
                tg.start_soon(waiter)
            for _ in range(checkpoints):
                await anyio.lowlevel.checkpoint()
            victim_scope.cancel()
        requests = server.counters.token_requests - requests_before
        # Every waiter got the one token now cached, and the cache serves it on.
        assert len(waiters) == 3
        assert all(token is waiters[0] for token in waiters)
        assert cache.peek() is waiters[0]
        assert await cache.token() is waiters[0]
        assert server.counters.token_requests - requests_before == requests
    server.verify_access_token(waiters[0].access_token)
    if victim:
        assert victim[0] is waiters[0]
        assert requests == 1
        return "after the answer"
    assert requests in (1, 2)
    return "before the request" if requests == 1 else "during the request"


async def test_a_waiter_takes_over_from_a_cancelled_refresh(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """The refreshing caller is cancelled mid-call: one waiter calls again, for all of them."""
    cache = reuse(scripted, clock=clock)
    scripted.hold()
    leader_scope = anyio.CancelScope()
    results: list[Token] = []

    async def leader() -> None:
        with leader_scope:
            await cache.token()

    async def waiter() -> None:
        results.append(await cache.token())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            for _ in range(10):
                tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 1
            leader_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert scripted.calls == 2  # exactly one waiter took over
            scripted.release()
    assert leader_scope.cancelled_caught
    assert len(results) == 10
    assert all(token is results[0] for token in results)
    assert scripted.completed == 1
    assert cache.peek() is results[0]


async def test_a_cancelled_waiter_leaves_the_refresh_alone(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """Cancelling a caller that only waits does not disturb the refresh or the other waiters."""
    cache = reuse(scripted, clock=clock)
    scripted.hold()
    waiter_scope = anyio.CancelScope()
    results: list[Token] = []

    async def call() -> None:
        results.append(await cache.token())

    async def cancelled_waiter() -> None:
        with waiter_scope:
            await cache.token()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(cancelled_waiter)
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            waiter_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            scripted.release()
    assert waiter_scope.cancelled_caught
    assert scripted.calls == 1
    assert len(results) == 2
    assert results[0] is results[1]


async def test_a_cancelled_soft_refresh_is_retried_by_the_next_caller(
    scripted: ScriptedSource, clock: FakeClock
) -> None:
    """A soft refresh cancelled midway keeps the old token served; the next caller refreshes."""
    cache = reuse(buffer(scripted, 300, jitter=0, clock=clock), clock=clock)
    with anyio.fail_after(10):
        current = await cache.token()
        assert current.refresh_at is not None
        clock.now = current.refresh_at
        scripted.hold()
        with anyio.move_on_after(0) as scope:
            await cache.token()
        assert scope.cancelled_caught
        assert cache.peek() is current
        scripted.release()
        fresh = await cache.token()
    assert scripted.calls == 3
    assert fresh != current
    assert cache.peek() is fresh


async def test_random_cancellations_of_any_caller(clock: FakeClock, anyio_backend: str) -> None:
    """1 000 trials cancel random callers (leaders or waiters) at random points; survivors agree."""
    rng = random.Random(f"chaos-{anyio_backend}")
    for _ in range(TRIALS):
        await one_chaos_trial(clock, rng)


async def one_chaos_trial(clock: FakeClock, rng: random.Random) -> None:
    """Start 2-7 callers on a cold cache, cancel a random subset at random points, check."""
    source = ScriptedSource(clock, steps=rng.randrange(1, 6))
    cache = reuse(source, clock=clock)
    scopes = [anyio.CancelScope() for _ in range(rng.randrange(2, 8))]
    doomed = rng.sample(range(len(scopes)), rng.randrange(len(scopes)))
    results: list[Token] = []

    async def call(scope: anyio.CancelScope) -> None:
        with scope:
            results.append(await cache.token())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for scope in scopes:
                tg.start_soon(call, scope)
            for index in doomed:
                for _ in range(rng.randrange(4)):
                    await anyio.lowlevel.checkpoint()
                scopes[index].cancel()
    survivors = len(scopes) - sum(scope.cancelled_caught for scope in scopes)
    assert len(results) == survivors >= 1
    assert all(token is results[0] for token in results)
    assert source.completed == 1  # abandoned calls never complete; one call served all
    assert source.calls - source.completed <= len(doomed)
    assert cache.peek() is results[0]
