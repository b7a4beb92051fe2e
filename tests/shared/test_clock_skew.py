"""A member whose clock is off never makes members with a correct clock serve expired tokens.

Two ``RedisShared`` instances stand for two processes sharing one real
redis-server: a writer whose clock is 600 s ahead or behind, and a reader
whose clock is right (the testing server's). Time passes for both clocks and
for Redis's expiries together (``FleetTime``), without sleeping.

asyncio only: redis-py's asyncio client does not run on trio.
"""

from __future__ import annotations

import pytest
import redis.asyncio

from tests.support.clock import FakeClock
from tests.support.shared_helpers import FleetTime, make_source
from tokensources import Token, TokenSource
from tokensources.shared import RedisShared
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import buffer

pytestmark = pytest.mark.anyio

SKEW = 600.0
STEP = 60.0
LIFETIMES = 3
KEY = bytes(range(32))


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: redis-py's asyncio client does not run on trio."""
    return "asyncio"


def member(
    source: TokenSource,
    clock: FakeClock,
    client: redis.asyncio.Redis,
    namespace: str,
    **options: object,
) -> RedisShared:
    """One process of the fleet, on its own clock."""
    return RedisShared(source, client, namespace=namespace, clock=clock, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["writer-ahead", "writer-behind"])
@pytest.mark.parametrize("buffered", [False, True], ids=["reuse", "buffer"])
async def test_a_skewed_writer_never_makes_a_correct_member_serve_an_expired_token(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    skew: float,
    buffered: bool,
) -> None:
    """Over three lifetimes, each token the correct member serves is valid by the issuer's clock."""
    writer_clock = FakeClock(clock.now + skew)

    def source(on: FakeClock) -> TokenSource:
        credentials = make_source(server, on)
        return buffer(credentials, 300) if buffered else credentials

    writer = member(source(writer_clock), writer_clock, clients[0], namespace)
    reader = member(source(clock), clock, clients[1], namespace)
    time = FleetTime(clients[0], namespace, [clock, writer_clock])
    steps = round(LIFETIMES * server.token_lifetime / STEP)
    for _ in range(steps):
        await writer.token()  # the writer asks first, so the refreshes are its own
        token = await reader.token()
        server.verify_access_token(token.access_token)  # raises once expired
        await time.advance(STEP)
    # A skewed writer costs at most one extra request per lifetime.
    assert LIFETIMES <= server.counters.token_requests <= 2 * LIFETIMES + 1


async def test_a_reader_puts_the_stored_token_on_its_own_clock(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
) -> None:
    """A token stored by a writer 600 s ahead expires, for the reader, when Redis's TTL ends."""
    writer_clock = FakeClock(clock.now + SKEW)
    writer = member(
        buffer(make_source(server, writer_clock), 300), writer_clock, clients[0], namespace
    )
    written = await writer.token()
    reader = member(make_source(server, clock), clock, clients[1], namespace)
    read = await reader.token()
    assert read.access_token == written.access_token
    assert read.expires_at is not None
    assert read.refresh_at is not None
    assert written.expires_at is not None
    assert written.refresh_at is not None
    # Redis's TTL, on the reader's clock: the hour from the server, not the writer's instant.
    assert (
        clock.now + server.token_lifetime - 1
        <= read.expires_at
        <= clock.now + server.token_lifetime
    )
    # The refresh point keeps its lead before expiry, so both refresh together.
    lead = written.expires_at - written.refresh_at
    assert read.expires_at - read.refresh_at == pytest.approx(lead)
    assert server.counters.token_requests == 1


class IssuerInstants:
    """A source whose tokens expire at an instant of the issuer's clock (a JWT ``exp``, say).

    It remembers when each token really expires, so the test can tell an
    expired one from a valid one.
    """

    def __init__(self, issuer_clock: FakeClock, lifetime: float) -> None:
        self.issuer_clock = issuer_clock
        self.lifetime = lifetime
        self.expiry: dict[str, float] = {}

    async def token(self) -> Token:
        """A new token, expiring ``lifetime`` after the issuer's now."""
        token = Token(f"token-{len(self.expiry)}", expires_at=self.issuer_clock() + self.lifetime)
        assert token.expires_at is not None
        self.expiry[token.access_token] = token.expires_at
        return token

    def invalidate(self, token: Token) -> None:
        """Nothing is cached here."""


async def test_a_slow_writer_cannot_stretch_a_token_of_absolute_expiry(
    clock: FakeClock, clients: list[redis.asyncio.Redis], namespace: str
) -> None:
    """A writer 600 s behind stores a too-long TTL; the correct member still stops at expiry."""
    issuer = IssuerInstants(clock, lifetime=1800.0)
    writer_clock = FakeClock(clock.now - SKEW)
    writer = member(issuer, writer_clock, clients[0], namespace, key="absolute")
    reader = member(issuer, clock, clients[1], namespace, key="absolute")
    time = FleetTime(clients[0], namespace, [clock, writer_clock])
    for _ in range(round(2 * issuer.lifetime / STEP)):
        await writer.token()
        token = await reader.token()
        assert clock() < issuer.expiry[token.access_token]
        await time.advance(STEP)


async def test_an_extended_ttl_does_not_extend_a_sealed_token(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
) -> None:
    """Someone who pushes a stored value's TTL out by a day cannot make a member serve it late."""
    writer = member(make_source(server, clock), clock, clients[0], namespace, encryption_key=KEY)
    old = await writer.token()
    await clients[0].pexpire(writer.redis_key, 86_400_000)
    await FleetTime(clients[0], namespace, [clock]).advance(server.token_lifetime + 1)
    await clients[0].pexpire(writer.redis_key, 86_400_000)  # still there, for another day
    joining = member(make_source(server, clock), clock, clients[1], namespace, encryption_key=KEY)
    token = await joining.token()
    assert token.access_token != old.access_token
    server.verify_access_token(token.access_token)
    assert server.counters.token_requests == 2
