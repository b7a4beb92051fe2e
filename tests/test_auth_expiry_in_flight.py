"""Expiry in flight: TokenAuth tells reuse() how long requests take; no token expires on the way.

The testing server's API checks ``exp`` on the shared fake clock with no
leeway, so it answers 401 to a token that expired while its request
waited. The wait is simulated by a request hook that moves the clock on
after the token is attached, as a queue in front of the API would. Also:
``TokenAuth(max_in_flight=N)`` bounds the requests inside the client.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.wrappers.conftest import ScriptedSource
from tokensources import AuthStyle, ClientCredentials, ConfigError, Token, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

pytestmark = pytest.mark.anyio

LIFETIME = 60.0
# The skew reuse() keeps for a 60 s token: 10 s, clamped to a tenth of the lifetime.
SKEW = 6.0
PRIVATE = "/api/private"


class Queue:
    """A request hook: every API request waits ``delay`` seconds of the fake clock on its way."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path.startswith("/api/"):
            self.clock.advance(self.delay)


@pytest.fixture
def queue(clock: FakeClock) -> Queue:
    """The simulated queue in front of the API (no delay until a test sets one)."""
    return Queue(clock)


def demo_cache(server: AuthorizationServer, clock: FakeClock, **settings: object) -> Reuse:
    """A cache of the demo client's tokens on the fake clock, in-process."""
    inner = ClientCredentials(
        server.token_endpoint,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        http=server.client(),
        clock=clock,
        auth_style=AuthStyle.HEADER,
        allow_insecure_http=True,
    )
    return reuse(inner, clock=clock, **settings)  # type: ignore[arg-type]


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """The testing server on the fake clock, minting minute-long tokens."""
    return AuthorizationServer(clock=clock, token_lifetime=LIFETIME)


def _api(
    server: AuthorizationServer, cache: Reuse, clock: FakeClock, queue: Queue
) -> httpx.AsyncClient:
    return server.client(auth=TokenAuth(cache, clock=clock), event_hooks={"request": [queue]})


async def _late_request(
    server: AuthorizationServer, cache: Reuse, clock: FakeClock, queue: Queue
) -> httpx.Response:
    """One request that takes the cached token 0.5 s before its hard expiry and waits 8 s."""
    token = cache.peek()
    assert token is not None
    assert token.expires_at is not None
    clock.now = token.expires_at - SKEW - 0.5
    queue.delay = 8.0
    async with _api(server, cache, clock, queue) as api:
        return await api.get(PRIVATE)


async def test_an_expiry_in_flight_raises_the_margin_and_is_resent(
    server: AuthorizationServer, clock: FakeClock, queue: Queue
) -> None:
    """A token expiring during an 8 s wait: one 401, resent with a new token; margin >= 8 s."""
    cache = demo_cache(server, clock)
    await cache.token()
    with anyio.fail_after(10):
        response = await _late_request(server, cache, clock, queue)
    assert response.status_code == 200
    assert server.counters.api_unauthorized == 1
    assert server.counters.token_requests == 2
    assert cache.learned_margin >= 8.0


async def test_after_an_expiry_in_flight_the_next_token_is_refreshed_in_time(
    server: AuthorizationServer, clock: FakeClock, queue: Queue
) -> None:
    """The same late request on the next token: refreshed before it is sent, no 401."""
    cache = demo_cache(server, clock)
    await cache.token()
    with anyio.fail_after(10):
        await _late_request(server, cache, clock, queue)
        response = await _late_request(server, cache, clock, queue)
    assert response.status_code == 200
    assert server.counters.api_unauthorized == 1  # the first one only
    assert server.counters.token_requests == 3


async def test_without_learning_every_late_request_is_a_401(
    server: AuthorizationServer, clock: FakeClock, queue: Queue
) -> None:
    """learn_margin=False: the same two late requests cost two 401s (the knob turns it off)."""
    cache = demo_cache(server, clock, learn_margin=False)
    await cache.token()
    with anyio.fail_after(10):
        await _late_request(server, cache, clock, queue)
        await _late_request(server, cache, clock, queue)
    assert server.counters.api_unauthorized == 2
    assert cache.learned_margin == 0.0


async def test_reported_delays_keep_new_tokens_away_from_expiry(
    server: AuthorizationServer, clock: FakeClock, queue: Queue
) -> None:
    """Steady 7 s waits, longer than skew: after the first token, no request gets a 401."""
    cache = demo_cache(server, clock)
    queue.delay = 7.0
    with anyio.fail_after(20):
        async with _api(server, cache, clock, queue) as api:
            for _ in range(60):  # about seven token lifetimes, a request every 7 s
                assert (await api.get(PRIVATE)).status_code == 200
    # The first token is used before any delay was learned: at most one expiry in flight.
    assert server.counters.api_unauthorized <= 1
    assert 7.0 <= cache.learned_margin <= 7.0 * 1.5 * 1.2


async def test_the_margin_shrinks_back_when_delays_fall(
    server: AuthorizationServer, clock: FakeClock, queue: Queue
) -> None:
    """After an expiry in flight, ten minutes of 10 ms waits bring the margin below skew."""
    cache = demo_cache(server, clock)
    await cache.token()
    with anyio.fail_after(20):
        await _late_request(server, cache, clock, queue)
        assert cache.learned_margin >= 8.0
        queue.delay = 0.01
        async with _api(server, cache, clock, queue) as api:
            for _ in range(600):
                clock.advance(1.0)
                assert (await api.get(PRIVATE)).status_code == 200
    assert cache.learned_margin < 0.1
    token = cache.peek()
    assert token is not None
    assert token.expires_at is not None
    clock.now = token.expires_at - SKEW - 0.01
    assert cache.fresh() is token  # held until expires_at - skew again, not earlier


async def test_tokens_are_never_held_past_expires_at_minus_skew(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """With no delay learned, a token is handed out until expires_at - skew and not after."""
    cache = demo_cache(server, clock)
    first = await cache.token()
    assert first.expires_at is not None
    clock.now = first.expires_at - SKEW - 0.01
    assert await cache.token() is first
    clock.now = first.expires_at - SKEW
    with anyio.fail_after(10):
        assert (await cache.token()).access_token != first.access_token
    assert server.counters.token_requests == 2


async def test_a_huge_margin_still_leaves_half_the_lifetime(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A 10-minute delay reported for a minute-long token: each token is still used for 30 s."""
    cache = demo_cache(server, clock)
    first = await cache.token()
    cache.request_answered(first, clock(), clock() + 600.0, rejected=True)
    cache.invalidate(first)
    with anyio.fail_after(10):
        second = await cache.token()
        assert second.expires_at is not None
        clock.now = second.expires_at - 30.01
        assert await cache.token() is second
    assert server.counters.token_requests == 2


async def test_a_token_without_expiry_is_unaffected(clock: FakeClock) -> None:
    """Expiry in flight cannot be told for a token of unknown expiry: it stays cached."""
    scripted = ScriptedSource(clock, lifetime=None)
    cache = reuse(scripted, clock=clock)
    token = await cache.token()
    cache.request_answered(token, clock(), clock() + 30.0, rejected=True)
    clock.advance(86_400)
    assert await cache.token() is token
    assert scripted.calls == 1


async def test_a_revoked_token_is_no_expiry_in_flight(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A 401 for a token with 50 s left after a 1 s request does not raise the margin."""
    cache = demo_cache(server, clock)
    token = await cache.token()
    cache.request_answered(token, clock(), clock() + 1.0, rejected=True)
    assert cache.learned_margin < 1.5


class InFlight:
    """Request and response hooks that count the requests between them, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def sent(self, request: httpx.Request) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        for _ in range(5):  # stay in flight while others arrive
            await anyio.lowlevel.checkpoint()

    async def answered(self, response: httpx.Response) -> None:
        self.now -= 1


@pytest.mark.parametrize("bound", [1, 7, None])
async def test_max_in_flight_bounds_the_requests_inside_the_client(
    server: AuthorizationServer, clock: FakeClock, bound: int | None
) -> None:
    """200 concurrent requests: at most ``bound`` between send and answer; all succeed."""
    cache = demo_cache(server, clock)
    counter = InFlight()
    hooks = {"request": [counter.sent], "response": [counter.answered]}
    statuses: list[int] = []
    async with server.client(
        auth=TokenAuth(cache, clock=clock, max_in_flight=bound), event_hooks=hooks
    ) as api:

        async def one() -> None:
            statuses.append((await api.get(PRIVATE)).status_code)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(one)
    assert statuses == [200] * 200
    if bound is None:
        assert counter.most > 7  # the check can see a storm: unbounded, they pile up
    else:
        assert counter.most == bound
    assert server.counters.token_requests == 1


async def test_a_cancelled_request_gives_its_turn_back(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """max_in_flight=1: a request cancelled mid-flight does not keep the only turn."""
    cache = demo_cache(server, clock)
    stuck = anyio.Event()

    async def hang(request: httpx.Request) -> None:
        if request.url.path == "/api/public":
            stuck.set()
            await anyio.sleep_forever()

    async with server.client(
        auth=TokenAuth(cache, clock=clock, max_in_flight=1), event_hooks={"request": [hang]}
    ) as api:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(api.get, "/api/public")
                await stuck.wait()
                tg.cancel_scope.cancel()
            assert (await api.get(PRIVATE)).status_code == 200


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_max_in_flight_must_be_a_positive_integer(bad: object) -> None:
    """A bound that is not an integer >= 1 is a ConfigError naming max_in_flight."""
    with pytest.raises(ConfigError, match="max_in_flight"):
        TokenAuth(_Fixed(), max_in_flight=bad)  # type: ignore[arg-type]


class _Fixed:
    async def token(self) -> Token:
        return Token("fixed")

    def invalidate(self, token: Token) -> None:
        pass
