"""Admission: requests that would wait longer than their token lives wait before taking one.

The queue is simulated on the fake clock: ``Timeline`` lets fake time
pass only while every task waits (a discrete-event simulation), and
``Pool`` is a connection pool in front of the testing server's API with a
few connections, each held for a second per request, that reports
``send_request_headers.started`` to the request's ``trace`` extension as
httpcore's pool does once a request has a connection. The API checks
``exp`` on the same clock with no leeway, so a token that aged in the
pool's queue past its expiry is answered 401.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Literal

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.test_auth_expiry_in_flight import demo_cache
from tokensources import TokenAuth
from tokensources._admission import Gate
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

LIFETIME = 60.0
PRIVATE = "/api/private"
# Scheduler rounds given to the other tasks between two steps of fake time.
_SETTLE = 30


class Timeline:
    """Fake time that passes only while the other tasks wait; sleepers wake in order.

    "While they wait" is approximated by yielding to the event loop a few
    dozen times between steps (``anyio.wait_all_tasks_blocked`` polls every
    0.1 s on asyncio, too slow for thousands of steps): a request runs from
    one fake-time wait to the next in far fewer scheduler rounds.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of fake time."""
        wake = anyio.Event()
        heapq.heappush(self._sleepers, (self.clock() + seconds, next(self._order), wake))
        await wake.wait()

    async def run(self, *, steps: int = 200_000) -> None:
        """Move the clock to the next sleeper's instant each time every other task waits."""
        for _ in range(steps):  # bounded: a test that never settles fails, it does not hang
            for _ in range(_SETTLE):
                await anyio.lowlevel.checkpoint()
            if self._sleepers:
                at, _, wake = heapq.heappop(self._sleepers)
                self.clock.now = max(self.clock.now, at)
                wake.set()
            else:
                await anyio.sleep(0.001)  # nothing scheduled: the test is finishing


class Pool(httpx.AsyncBaseTransport):
    """A connection pool on the fake clock: ``connections`` at once, each held ``service`` s.

    ``processing`` is the API's own time to answer, after it read the
    token (on the wire: it costs the token nothing). Counts the most
    requests waiting for a connection at once, and the most on the wire.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        timeline: Timeline,
        *,
        connections: int,
        service: float = 1.0,
        processing: float = 0.0,
    ) -> None:
        self._inner = inner
        self._timeline = timeline
        self._slots = anyio.Semaphore(connections)
        self._service = service
        self._processing = processing
        self.waiting = self.most_waiting = 0
        self.on_wire = self.most_on_wire = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Queue for a connection, go on the wire (telling ``trace``), hold it, answer."""
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        async with self._slots:
            self.waiting -= 1
            self.on_wire += 1
            self.most_on_wire = max(self.most_on_wire, self.on_wire)
            try:
                trace = request.extensions.get("trace")
                if trace is not None:
                    await trace("http11.send_request_headers.started", {"request": request})
                response = await self._inner.handle_async_request(request)
                await self._timeline.sleep(self._service + self._processing)
            finally:
                self.on_wire -= 1
        return response


class Load:
    """``workers`` tasks, worker i starting ``i * stagger`` s in, each sending ``requests`` GETs."""

    def __init__(self, workers: int, requests: int, stagger: float = 0.0) -> None:
        self.workers = workers
        self.requests = requests
        self.stagger = stagger
        self.statuses: list[int] = []
        self.limits: list[int | None] = []  # the automatic bound, as each answer came

    async def run(self, api: httpx.AsyncClient, auth: TokenAuth, timeline: Timeline) -> None:
        """Run every worker to the end."""

        async def worker(index: int) -> None:
            await timeline.sleep(index * self.stagger)
            for _ in range(self.requests):
                self.statuses.append((await api.get(PRIVATE)).status_code)
                self.limits.append(auth.max_in_flight)

        async with anyio.create_task_group() as tg:
            for index in range(self.workers):
                tg.start_soon(worker, index)


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """The testing server on the fake clock, minting minute-long tokens."""
    return AuthorizationServer(clock=clock, token_lifetime=LIFETIME)


async def _run(
    server: AuthorizationServer,
    clock: FakeClock,
    auth: TokenAuth,
    pool: Pool,
    *loads: Load,
) -> None:
    """The loads one after the other, through ``pool``, with fake time passing meanwhile."""
    timeline = pool._timeline
    async with httpx.AsyncClient(base_url=server.issuer, transport=pool, auth=auth) as api:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(timeline.run)
                for load in loads:
                    await load.run(api, auth, timeline)
                tg.cancel_scope.cancel()


def _pool(server: AuthorizationServer, clock: FakeClock, **settings: Any) -> Pool:
    return Pool(server.client()._transport, Timeline(clock), **settings)


# A load that grows to 200 workers over 50 s on 4 connections held 1 s each: 1 000
# requests, whose wait in the pool's queue would grow to about 50 s without a bound.
def _growing() -> Load:
    return Load(workers=200, requests=5, stagger=0.25)


async def test_a_queue_that_would_age_tokens_is_bounded_and_no_token_expires(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """The automatic bound engages: no 401 at all, every request succeeds, the queue stays short."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock)
    pool = _pool(server, clock, connections=4)
    load = _growing()
    await _run(server, clock, auth, pool, load)
    assert load.statuses == [200] * 1000
    assert server.counters.api_unauthorized == 0
    assert any(limit is not None for limit in load.limits)
    # 6 s of waiting (a tenth of the lifetime) is 24 requests on 4 one-second connections.
    assert pool.most_waiting < 100  # without a bound: about 190
    assert server.counters.token_requests <= 1000 / 4 / (LIFETIME / 2) + 2


async def test_without_admission_the_same_queue_expires_tokens(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """max_in_flight=None (the off switch): the same load costs 401s, and no bound is ever set."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock, max_in_flight=None)
    pool = _pool(server, clock, connections=4)
    load = _growing()
    await _run(server, clock, auth, pool, load)
    assert server.counters.api_unauthorized > 50
    assert pool.most_waiting > 150
    assert set(load.limits) == {None}


async def test_the_bound_goes_away_when_delays_fall(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """After the growing load, a few sequential requests: the bound is dropped."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock)
    pool = _pool(server, clock, connections=4)
    heavy, light = _growing(), Load(workers=1, requests=40)
    await _run(server, clock, auth, pool, heavy, light)
    assert any(limit is not None for limit in heavy.limits)
    assert light.limits[-1] is None
    assert light.statuses == [200] * 40


async def test_an_api_slow_to_answer_is_not_bounded(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """50 workers, connections to spare, 20 s to answer each: no bound, all 50 on the wire."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock)
    pool = _pool(server, clock, connections=100, service=0.0, processing=20.0)
    load = Load(workers=50, requests=6)
    await _run(server, clock, auth, pool, load)
    assert load.statuses == [200] * 300
    assert set(load.limits) == {None}
    assert pool.most_on_wire == 50
    assert server.counters.api_unauthorized == 0


@pytest.mark.parametrize(("max_in_flight", "expired"), [("auto", False), (None, True)])
async def test_a_cold_storm_with_short_lived_tokens_is_let_in_a_part_at_a_time(
    clock: FakeClock, max_in_flight: Literal["auto"] | None, expired: bool
) -> None:
    """5 s tokens, 100 requests at once on 4 connections held 0.25 s: slow start, no 401."""
    server = AuthorizationServer(clock=clock, token_lifetime=5.0)
    auth = TokenAuth(demo_cache(server, clock), clock=clock, max_in_flight=max_in_flight)
    pool = _pool(server, clock, connections=4, service=0.25)
    load = Load(workers=100, requests=3)
    await _run(server, clock, auth, pool, load)
    assert (load.statuses == [200] * 300) is not expired  # without admission, some fail
    assert (server.counters.api_unauthorized > 0) is expired
    assert (pool.most_waiting > 90) is expired


async def test_slow_start_stops_growing_once_requests_queue(clock: FakeClock) -> None:
    """5 s tokens, 100 requests at once on 8 connections: the bound starts at 4, not 32.

    Every request the bound lets in beyond what the connections serve
    waits in the pool (and, with a real pool, keeps a connection open
    that every later request pays for); slow start ends as soon as a few
    wait, as TCP Vegas ends it (it may overshoot one round).
    """
    server = AuthorizationServer(clock=clock, token_lifetime=5.0)
    auth = TokenAuth(demo_cache(server, clock), clock=clock)
    pool = _pool(server, clock, connections=8, service=0.25)
    load = Load(workers=100, requests=3)
    await _run(server, clock, auth, pool, load)
    assert load.statuses == [200] * 300
    assert pool.most_on_wire == 8  # the connections are kept busy
    # Starting at a bound of 32 (as TCP's large initial windows) made these 32 and 40.
    assert pool.most_waiting < 24
    assert max(limit or 0 for limit in load.limits) < 32


async def test_a_fixed_bound_stays_fixed(server: AuthorizationServer, clock: FakeClock) -> None:
    """max_in_flight=3 under the growing load: never more than 3 in the pool, and it stays 3."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock, max_in_flight=3)
    pool = _pool(server, clock, connections=4)
    load = _growing()
    await _run(server, clock, auth, pool, load)
    assert load.statuses == [200] * 1000
    assert pool.most_on_wire == 3  # of 4 connections
    assert set(load.limits) == {3}


async def test_the_users_trace_still_sees_every_event(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A request's own ``trace`` is chained while watched, and given back after the answer."""
    auth = TokenAuth(demo_cache(server, clock), clock=clock)
    pool = _pool(server, clock, connections=1, service=0.0)
    seen: list[str] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        seen.append(name)

    async with httpx.AsyncClient(base_url=server.issuer, transport=pool, auth=auth) as api:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pool._timeline.run)
                for _ in range(32):  # some of them watched (one in 16 while calm)
                    request = api.build_request("GET", PRIVATE, extensions={"trace": trace})
                    assert (await api.send(request)).status_code == 200
                    assert request.extensions["trace"] is trace
                tg.cancel_scope.cancel()
    assert seen == ["http11.send_request_headers.started"] * 32


async def test_an_expiry_in_flight_engages_the_bound_without_trace_events(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A transport without trace events: a 401 for a token expired on its way sets a bound."""
    cache = demo_cache(server, clock)
    token = await cache.token()
    expires_at = token.expires_at
    assert expires_at is not None
    auth = TokenAuth(cache, clock=clock)

    async def late(request: httpx.Request) -> None:
        if request.headers.get("authorization") == token.authorization:
            clock.now = expires_at + 1.0  # the first token expires on its way

    bounds: list[int | None] = [auth.max_in_flight]
    async with server.client(auth=auth, event_hooks={"request": [late]}) as api:
        with anyio.fail_after(10):
            assert (await api.get(PRIVATE)).status_code == 200
            bounds.append(auth.max_in_flight)
    assert bounds == [None, 1]
    assert server.counters.api_unauthorized == 1


async def test_a_cancelled_waiter_gives_its_turn_back() -> None:
    """A bound of 1: of two waiters, the first is cancelled; the second gets the turn."""
    gate = Gate()
    assert gate.admit()
    assert gate.admit()
    gate.congested(1.0, attached_at=0.0, now=1.0)  # halves the two in flight: a bound of 1
    assert gate.limit == 1
    assert not gate.admit()
    let_in: list[str] = []

    async def wait(name: str) -> None:
        await gate.wait_turn()
        let_in.append(name)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as first:
                first.start_soon(wait, "first")
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(wait, "second")
                await anyio.wait_all_tasks_blocked()
                first.cancel_scope.cancel()
            gate.leave()
            gate.leave()  # both first requests are gone: the second waiter goes in
    assert let_in == ["second"]
    assert gate.inside == 1
