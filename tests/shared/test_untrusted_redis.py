"""Whatever is found in Redis is believed only as far as a fleet member could have written it.

Anyone with write access to Redis can forge a cooldown, a lock or a value;
these tests plant such keys in a real redis-server and check the bounds.

asyncio only: redis-py's asyncio client does not run on trio.
"""

from __future__ import annotations

import logging

import anyio
import pytest
import redis.asyncio

from tests.support.clock import FakeClock
from tests.support.shared_helpers import make_source
from tokensources import Token, TokenEndpointError, TokenEvent
from tokensources.shared import RedisShared
from tokensources.shared._envelope import Envelope
from tokensources.shared._redis_keys import RedisKeys
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: redis-py's asyncio client does not run on trio."""
    return "asyncio"


@pytest.fixture
def member(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
) -> RedisShared:
    """One fleet member, with a short lock and a long wait."""
    return RedisShared(
        make_source(server, clock),
        clients[0],
        namespace=namespace,
        clock=clock,
        lock_timeout=0.3,
        wait_timeout=10,
    )


def keys(member: RedisShared, namespace: str) -> RedisKeys:
    """The Redis keys of ``member``'s token."""
    return RedisKeys.build(namespace, member.identity)


async def test_a_forged_long_cooldown_lasts_at_most_300_seconds(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    member: RedisShared,
) -> None:
    """A day-long cooldown planted in Redis is obeyed for 300 s at most, in Redis too."""
    cooldown = keys(member, namespace).cooldown
    await clients[1].set(cooldown, b"429", px=DAY_MS)
    impatient = RedisShared(
        make_source(server, clock), clients[0], namespace=namespace, clock=clock, wait_timeout=1
    )
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await impatient.token()
    assert caught.value.retry_after is not None
    assert 299 <= caught.value.retry_after <= 300
    assert caught.value.status_code == 429
    # Capped where it is stored, so the cap bounds the whole cooldown, not only this read.
    assert 0 < await clients[1].pttl(cooldown) <= 300_000
    assert server.counters.token_requests == 0


@pytest.mark.parametrize(
    ("value", "px"),
    [
        (b"garbage", 60_000),
        (b"200", 60_000),
        (b"4290", 60_000),
        (b"", 60_000),
        ("\u0664\u0662\u0669".encode(), 60_000),  # Arabic-Indic digits: int() would read 429
        (b"429", None),  # no expiry: never written by a member
    ],
    ids=["word", "success-status", "four-digits", "empty", "non-ascii-digits", "no-expiry"],
)
async def test_a_malformed_cooldown_is_ignored_and_logged_once(
    server: AuthorizationServer,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    member: RedisShared,
    caplog: pytest.LogCaptureFixture,
    value: bytes,
    px: int | None,
) -> None:
    """A cooldown that is not an HTTP error status with an expiry counts as none, and is logged."""
    await clients[1].set(keys(member, namespace).cooldown, value, px=px)
    with caplog.at_level(logging.WARNING, logger="tokensources"), anyio.fail_after(10):
        token = await member.token()
    server.verify_access_token(token.access_token)
    assert server.counters.token_requests == 1
    warnings = [
        r.getMessage() for r in caplog.records if "cooldown found in Redis" in r.getMessage()
    ]
    assert len(warnings) == 1
    if value:
        assert value.decode(errors="replace") not in warnings[0]  # someone else's text


async def test_a_lock_without_expiry_ends_after_lock_timeout(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
) -> None:
    """A lock planted without a TTL is given lock_timeout: members wait that, not wait_timeout."""
    events: list[TokenEvent] = []
    member = RedisShared(
        make_source(server, clock),
        clients[0],
        namespace=namespace,
        clock=clock,
        lock_timeout=0.3,
        wait_timeout=10,
        on_event=events.append,
    )
    lock = keys(member, namespace).lock
    await clients[1].set(lock, b"forged")
    with anyio.fail_after(10):
        await member.token()
    kinds = [e.kind for e in events]
    assert "lock_wait" in kinds
    assert "fallback" not in kinds  # the lock ended; nobody had to fetch without it
    assert server.counters.token_requests == 1


async def test_a_value_without_expiry_is_ignored_and_replaced(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    member: RedisShared,
) -> None:
    """A well-formed value stored without a TTL was not a member's: it is never served."""
    planted = Envelope(member.identity).seal(Token("planted", expires_at=clock() + 3600))
    await clients[1].set(member.redis_key, planted)
    with anyio.fail_after(10):
        token = await member.token()
    assert token.access_token != "planted"
    assert server.counters.token_requests == 1
    assert await clients[1].pttl(member.redis_key) > 0  # replaced by a value that expires


@pytest.mark.parametrize("which", ["token", "cooldown"])
async def test_a_key_of_another_type_is_replaced_not_taken_for_redis_failing(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    which: str,
) -> None:
    """A hash where a string belongs (GET would fail) is ignored; the fleet keeps sharing."""
    events: list[TokenEvent] = []
    member = RedisShared(
        make_source(server, clock),
        clients[0],
        namespace=namespace,
        clock=clock,
        on_event=events.append,
    )
    key = getattr(keys(member, namespace), which)
    await clients[1].hset(key, "field", "value")
    await clients[1].pexpire(key, 60_000)
    with anyio.fail_after(10):
        token = await member.token()
    assert "fallback" not in [e.kind for e in events]  # Redis did not count as down
    assert await clients[1].type(member.redis_key) == b"string"  # the token was stored
    joining = RedisShared(make_source(server, clock), clients[1], namespace=namespace, clock=clock)
    assert (await joining.token()).access_token == token.access_token
    assert server.counters.token_requests == 1


async def test_an_oversized_value_is_never_sent_over_the_network(
    server: AuthorizationServer,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    member: RedisShared,
) -> None:
    """A 4 MiB value planted under the token's key stays in Redis; members read a few bytes."""
    await clients[1].set(member.redis_key, b"x" * (4 << 20), px=60_000)
    before = (await clients[1].info("stats"))["total_net_output_bytes"]
    with anyio.fail_after(10):
        await member.token()
    after = (await clients[1].info("stats"))["total_net_output_bytes"]
    assert after - before < 64 * 1024
    assert server.counters.token_requests == 1
    assert await clients[1].strlen(member.redis_key) < 64 * 1024  # replaced by a real value
