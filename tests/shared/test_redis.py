"""RedisShared against a real redis-server: two levels, the lock, values, fallback, cooldown.

These tests run on asyncio only: RedisShared refuses trio (redis-py's asyncio
client is asyncio-only); ``test_trio.py`` checks that refusal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc
import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer, free_port
from tests.support.shared_helpers import CommandCounter, call_many, make_source
from tokensources import ConfigError, Static, Token, TokenEndpointError, TokenEvent
from tokensources.shared import RedisShared
from tokensources.shared._commands import RedisClient, commands_for
from tokensources.shared._envelope import Envelope
from tokensources.shared._lock import release
from tokensources.shared._redis_keys import RedisKeys
from tokensources.shared._store import Store
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import buffer, retry, reuse

pytestmark = pytest.mark.anyio

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
QUICK_RETRY = Retry(NoBackoff(), 1)


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: redis-py's asyncio client does not run on trio."""
    return "asyncio"


@dataclass
class Env:
    """What most tests need: the testing server, the clock, clients, a namespace, Redis."""

    server: AuthorizationServer
    clock: FakeClock
    clients: list[redis.asyncio.Redis]
    namespace: str
    redis_server: RedisServer


@pytest.fixture
def env(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
    redis_server: RedisServer,
) -> Env:
    """The usual fixtures in one bundle."""
    return Env(server, clock, clients, namespace, redis_server)


def shared(env: Env, client: RedisClient, **options: object) -> RedisShared:
    """A RedisShared over a freshly built source, standing for one process."""
    return RedisShared(
        make_source(env.server, env.clock),
        client,
        namespace=env.namespace,
        clock=env.clock,
        **options,  # type: ignore[arg-type]
    )


async def test_fleet_of_instances_makes_one_request(env: Env) -> None:
    """Four independent instances with 50 callers each make one token request in all."""
    env.server.faults.latency = 0.1  # the refresh takes time, as at a real provider
    fleet = [shared(env, client) for client in env.clients]
    tokens = await call_many(fleet, 50)
    assert env.server.counters.token_requests == 1
    assert len({token.access_token for token in tokens}) == 1


async def test_hot_path_sends_no_redis_commands(env: Env) -> None:
    """While the local copy is fresh, token() sends zero commands to Redis."""
    source = shared(env, env.clients[0])
    first = await source.token()
    count = CommandCounter(env.redis_server)
    before = count()
    with anyio.fail_after(10):
        for _ in range(1000):
            assert await source.token() is first
    assert count() - before == 0
    count.close()


async def test_a_local_miss_costs_one_round_trip(env: Env) -> None:
    """A process joining a fleet that has a fresh token reads it with one script call."""
    await shared(env, env.clients[0]).token()
    joining = shared(env, env.clients[1])
    await env.clients[1].ping()  # connection set-up is not part of the miss
    count = CommandCounter(env.redis_server)
    before = count.by_command()
    await joining.token()
    after = count.by_command()
    count.close()
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # One EVAL; the commands inside it are counted by Redis too.
    assert changed.pop("eval") == 1
    assert set(changed) <= {"get", "pttl", "type", "strlen"}
    assert env.server.counters.token_requests == 1


async def test_expiry_is_one_request_per_lifetime(env: Env) -> None:
    """Across three token lifetimes the fleet makes exactly three requests."""
    fleet = [shared(env, client) for client in env.clients]
    seen: set[str] = set()
    for lifetime in range(3):
        tokens = await call_many(fleet, 20)
        assert len({t.access_token for t in tokens}) == 1
        seen |= {t.access_token for t in tokens}
        assert env.server.counters.token_requests == lifetime + 1
        env.clock.advance(env.server.token_lifetime + 1)
    assert len(seen) == 3


async def test_buffered_refresh_happens_once_in_the_soft_window(env: Env) -> None:
    """With buffer(), the fleet refreshes once before expiry and nobody waits for it."""
    fleet = [
        RedisShared(
            buffer(make_source(env.server, env.clock), 300),
            c,
            namespace=env.namespace,
            clock=env.clock,
        )
        for c in env.clients
    ]
    old = await call_many(fleet, 5)
    env.clock.advance(env.server.token_lifetime - 200)  # inside every member's buffer
    await call_many(fleet, 5)
    new = await call_many(fleet, 5)
    assert env.server.counters.token_requests == 2
    assert {t.access_token for t in new} != {t.access_token for t in old}


def planted_values(identity: str) -> dict[str, bytes]:
    """Stored values that must never be returned, by name."""
    planted = Token("planted-token", expires_at=1_900_000_000.0)
    return {
        "not json": b"\x00\xffnot json",
        "wrong version": b'{"v": 99, "id": "x", "token": {}}',
        "no token": b'{"v": 1, "id": "%s"}' % identity.encode(),
        "another identity": Envelope("another-identity").seal(planted),
        "sealed with another key": Envelope(identity, (OTHER_KEY,)).seal(planted),
        "sealed for another identity": Envelope("another-identity", (KEY,)).seal(planted),
        "plain where sealed is expected": Envelope(identity).seal(planted),
        "deeply nested": b"[" * 100_000,
        "nested within the size limit": b"[" * 60_000,
        "too large": b'{"v": 1, "pad": "%s"}' % (b"x" * 70_000),
    }


@pytest.mark.parametrize("name", sorted(planted_values("x")))
async def test_bad_values_are_ignored_and_replaced(
    env: Env,
    name: str,
) -> None:
    """A corrupt value, one sealed with another key or for another identity is replaced."""
    source = shared(env, env.clients[0], encryption_key=KEY)
    with env.redis_server.client() as client:
        client.set(source.redis_key, planted_values(source.identity)[name])
        token = await source.token()
        assert token.access_token != "planted-token"
        stored = client.get(source.redis_key)
    assert Envelope(source.identity, (KEY,)).open(stored) == token
    assert env.server.counters.token_requests == 1


async def test_plain_value_of_another_identity_is_ignored(env: Env) -> None:
    """Without encryption, a value whose identity does not match is never returned."""
    source = shared(env, env.clients[0])
    planted = Envelope("another-identity").seal(Token("planted", expires_at=1_900_000_000.0))
    with env.redis_server.client() as client:
        client.set(source.redis_key, planted)
    assert (await source.token()).access_token != "planted"
    assert env.server.counters.token_requests == 1


async def test_encrypted_value_hides_the_access_token(env: Env) -> None:
    """With encryption_key, the raw value holds no part of the token, yet members share it."""
    writer = shared(env, env.clients[0], encryption_key=KEY)
    token = await writer.token()
    with env.redis_server.client() as client:
        raw = client.get(writer.redis_key)
    assert raw is not None
    for part in token.access_token.split("."):
        assert part.encode() not in raw
    reader = shared(env, env.clients[1], encryption_key=(KEY, OTHER_KEY))
    assert (await reader.token()).access_token == token.access_token
    assert env.server.counters.token_requests == 1


async def test_encrypted_key_names_do_not_show_the_identity(env: Env) -> None:
    """With encryption_key, key names carry an HMAC of the identity, not the identity itself."""
    plain = shared(env, env.clients[0])
    sealed = shared(env, env.clients[0], encryption_key=KEY)
    assert plain.identity == sealed.identity
    assert plain.identity in plain.redis_key
    assert sealed.identity not in sealed.redis_key
    assert plain.redis_key != sealed.redis_key


async def test_keys_share_one_cluster_slot(env: Env) -> None:
    """The token, lock and cooldown keys carry the identity as one hash tag."""
    source = shared(env, env.clients[0])
    keys = RedisKeys.build(env.namespace, source.identity)
    tag = "{" + source.identity + "}"
    assert source.redis_key == keys.token == f"{env.namespace}:{tag}:token"
    assert keys.lock == f"{env.namespace}:{tag}:lock"
    assert keys.cooldown == f"{env.namespace}:{tag}:cooldown"


async def test_a_dead_holders_lock_ends_with_its_ttl(env: Env) -> None:
    """A lock left by a vanished process is waited for, then taken over; one request in all."""
    events: list[TokenEvent] = []
    source = shared(env, env.clients[0], on_event=events.append)
    with env.redis_server.client() as client:
        client.set(RedisKeys.build(env.namespace, source.identity).lock, "gone:1:x", px=300)
    tokens = await call_many([source], 20)
    assert len({t.access_token for t in tokens}) == 1
    assert env.server.counters.token_requests == 1
    assert [e.kind for e in events].count("lock_wait") == 1


async def test_waiting_ends_with_wait_timeout(env: Env) -> None:
    """A lock that outlives wait_timeout does not block callers: they fetch themselves."""
    events: list[TokenEvent] = []
    source = shared(env, env.clients[0], wait_timeout=0.2, on_event=events.append)
    with env.redis_server.client() as client:
        client.set(RedisKeys.build(env.namespace, source.identity).lock, "stuck:1:x", px=60_000)
    tokens = await call_many([source], 20)
    assert len({t.access_token for t in tokens}) == 1
    assert env.server.counters.token_requests == 1
    assert "fallback" in [e.kind for e in events]


async def test_a_cancelled_holder_releases_the_lock(env: Env) -> None:
    """Cancelling the caller that holds the lock releases it at once; nobody waits for its TTL."""
    env.server.faults.latency = 30.0
    holder = shared(env, env.clients[0])
    lock = RedisKeys.build(env.namespace, holder.identity).lock
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder.token)
            for _ in range(1000):
                if await env.clients[1].exists(lock):
                    break
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert not await env.clients[1].exists(lock)
        env.server.faults.latency = 0.0
        events: list[TokenEvent] = []
        await shared(env, env.clients[1], on_event=events.append).token()
    assert "lock_wait" not in [e.kind for e in events]


async def test_reuse_around_the_source_is_unwrapped(env: Env) -> None:
    """A reuse() given to RedisShared is not a second cache: expiry still refreshes the fleet."""
    source = RedisShared(
        reuse(make_source(env.server, env.clock), clock=env.clock),
        env.clients[0],
        namespace=env.namespace,
        clock=env.clock,
    )
    first = await source.token()
    env.clock.advance(env.server.token_lifetime + 1)
    assert await source.token() != first
    assert env.server.counters.token_requests == 2


async def test_release_deletes_only_its_own_lock(
    clients: list[redis.asyncio.Redis], namespace: str
) -> None:
    """Compare-and-delete: releasing with another owner's token leaves the lock alone."""
    keys = RedisKeys.build(namespace, "identity")
    store = Store(commands_for(clients[0]), timeout=5)
    await clients[0].set(keys.lock, "owner-a", px=10_000)
    assert not await release(store, keys, "owner-b")
    assert await clients[0].get(keys.lock) == b"owner-a"
    assert await release(store, keys, "owner-a")
    assert await clients[0].get(keys.lock) is None


async def test_invalidate_refreshes_the_fleet_once(env: Env) -> None:
    """A 401 in two members leads to one new token, which both then use."""
    first, second = (shared(env, c) for c in env.clients[:2])
    old = await first.token()
    assert (await second.token()).access_token == old.access_token
    first.invalidate(old)
    new = await first.token()
    second.invalidate(old)
    assert (await second.token()).access_token == new.access_token != old.access_token
    assert env.server.counters.token_requests == 2


async def test_redis_down_falls_back_and_sharing_resumes(
    server: AuthorizationServer, clock: FakeClock, own_redis_server: RedisServer, namespace: str
) -> None:
    """Redis stopped mid-run: callers keep getting tokens; back up, members share again."""
    # One quick retry: the default backoff would only make the test slower.
    clients = [
        redis.asyncio.Redis(port=own_redis_server.port, socket_timeout=2, retry=QUICK_RETRY)
        for _ in range(2)
    ]
    events: list[TokenEvent] = []
    try:
        env = Env(server, clock, clients, namespace, own_redis_server)
        fleet = [shared(env, c, on_event=events.append) for c in clients]
        await call_many(fleet, 20)
        assert server.counters.token_requests == 1
        own_redis_server.stop()
        clock.advance(server.token_lifetime + 1)
        during = await call_many(fleet, 50)
        assert len(during) == 100
        # One direct fetch per member, not one per caller.
        assert server.counters.token_requests == 3
        assert [e.kind for e in events].count("fallback") == 2
        own_redis_server.start()
        clock.advance(server.token_lifetime + 1)
        after = await call_many(fleet, 20)
        assert server.counters.token_requests == 4
        assert len({t.access_token for t in after}) == 1
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_never_reachable_still_serves_tokens(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """With nothing listening where Redis should be, tokens come from the source, logged safely."""
    client = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=2, retry=QUICK_RETRY)
    try:
        source = shared(env, client)
        with caplog.at_level(logging.DEBUG, logger="tokensources"):
            tokens = await call_many([source], 20)
        assert len({t.access_token for t in tokens}) == 1
        assert env.server.counters.token_requests == 1
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "Redis unavailable" in logged
        assert tokens[0].access_token not in logged
    finally:
        await client.aclose()


async def test_retry_after_cools_the_whole_fleet(env: Env) -> None:
    """A 429 with Retry-After seen by one member makes the others wait it out, then fetch once."""
    cooled: list[TokenEvent] = []
    all_cooled = anyio.Event()

    def on_event(event: TokenEvent) -> None:
        if event.kind == "cooldown":
            cooled.append(event)
            if len(cooled) == len(others):
                all_cooled.set()

    first = shared(env, env.clients[0])
    others = [shared(env, c, on_event=on_event) for c in env.clients[1:]]
    env.server.faults.fail_next(1, 429, retry_after=1)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await first.token()
    assert caught.value.status_code == 429
    results: list[Token] = []

    async def wait_then_check() -> None:
        # Every other member has seen the cooldown; none has asked the server.
        await all_cooled.wait()
        assert env.server.counters.token_requests == 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_then_check)
            for member in others:
                tg.start_soon(_append, results, member)
    assert env.server.counters.token_requests == 2
    assert len({t.access_token for t in results}) == 1


async def _append(results: list[Token], source: RedisShared) -> None:
    results.append(await source.token())


async def test_long_cooldown_raises_without_asking_the_endpoint(env: Env) -> None:
    """A cooldown longer than wait_timeout is a transient error carrying the time left."""
    first = shared(env, env.clients[0])
    second = shared(env, env.clients[1], wait_timeout=1)
    env.server.faults.fail_next(1, 503, retry_after=60)
    with anyio.fail_after(10):
        with pytest.raises(TokenEndpointError):
            await first.token()
        with pytest.raises(TokenEndpointError) as caught:
            await second.token()
    assert env.server.counters.token_requests == 1
    assert caught.value.transient
    assert caught.value.status_code == 503
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60


async def test_cooldown_keeps_a_valid_token_in_use(env: Env) -> None:
    """During a cooldown, a member whose token is due but valid keeps using it."""
    fleet = [
        RedisShared(
            buffer(make_source(env.server, env.clock), 300),
            c,
            namespace=env.namespace,
            clock=env.clock,
        )
        for c in env.clients[:2]
    ]
    old = (await fleet[0].token()).access_token
    assert (await fleet[1].token()).access_token == old
    env.clock.advance(env.server.token_lifetime - 200)
    env.server.faults.fail_next(1, 429, retry_after=60)
    with anyio.fail_after(10):
        # Its refresh fails; the old token is served.
        assert (await fleet[0].token()).access_token == old
        # It sees the cooldown, and keeps its valid token.
        assert (await fleet[1].token()).access_token == old
    assert env.server.counters.token_requests == 2


def test_sync_client_is_refused(redis_server: RedisServer) -> None:
    """Passing the synchronous redis client is a ConfigError that says what is expected."""
    with redis_server.client() as client, pytest.raises(ConfigError, match=r"redis\.asyncio"):
        RedisShared(Static("a-token"), client, key="k")


def test_source_without_identity_needs_a_key(redis_server: RedisServer) -> None:
    """A source without cache_identity and without key= is a ConfigError naming key=."""
    client = redis.asyncio.Redis(port=redis_server.port)
    with pytest.raises(ConfigError, match="key="):
        RedisShared(Static("a-token"), client)


@pytest.mark.parametrize("key", [b"short", os.urandom(31), "a string key", [b"x" * 32, b"y"]])
def test_bad_encryption_keys_are_refused_without_echo(
    redis_server: RedisServer, key: object
) -> None:
    """An encryption key of the wrong size or type is refused; the message shows no key."""
    client = redis.asyncio.Redis(port=redis_server.port)
    with pytest.raises(ConfigError, match="encryption_key") as caught:
        RedisShared(Static("a-token"), client, key="k", encryption_key=key)  # type: ignore[arg-type]
    assert "short" not in str(caught.value)
    assert "a string key" not in str(caught.value)


async def test_retry_inside_shares_the_cooldown_and_keeps_the_lock(env: Env) -> None:
    """With retry() inside, a Retry-After cools the fleet at once; nobody asks during it."""
    events: list[TokenEvent] = []
    # The lock lives 0.3 s unless extended; the holder's retry waits out 1 s.
    fleet = [
        RedisShared(
            buffer(retry(make_source(env.server, env.clock))),
            c,
            namespace=env.namespace,
            clock=env.clock,
            lock_timeout=0.3,
            wait_timeout=5,
            on_event=events.append,
        )
        for c in env.clients[:3]
    ]
    env.server.faults.fail_next(1, 429, retry_after=1)
    tokens = await call_many(fleet, 10)
    # The failed request and the holder's one retry after the cooldown: nothing in between.
    assert env.server.counters.token_requests == 2
    assert len({t.access_token for t in tokens}) == 1
    assert "cooldown" in [e.kind for e in events]


async def test_an_unreachable_cluster_falls_back(env: Env) -> None:
    """A RedisCluster with no reachable node (not a RedisError) still serves tokens."""
    cluster = redis.asyncio.RedisCluster(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=QUICK_RETRY
    )
    events: list[TokenEvent] = []
    try:
        tokens = await call_many([shared(env, cluster, on_event=events.append)], 10)
    finally:
        await cluster.aclose()
    assert len({t.access_token for t in tokens}) == 1
    assert env.server.counters.token_requests == 1
    assert [e.kind for e in events].count("fallback") == 1


async def test_a_redis_that_never_answers_falls_back_within_redis_timeout(env: Env) -> None:
    """A listener that accepts and never answers costs redis_timeout, then tokens come directly."""
    events: list[TokenEvent] = []
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as silent:
        port = silent.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        client = redis.asyncio.Redis(port=port, retry=QUICK_RETRY)  # no socket_timeout
        source = shared(env, client, redis_timeout=0.2, on_event=events.append)
        try:
            tokens = await call_many([source], 10)
        finally:
            with anyio.move_on_after(1):
                await client.aclose()
    assert len({t.access_token for t in tokens}) == 1
    assert env.server.counters.token_requests == 1
    assert [e.kind for e in events].count("fallback") == 1


async def test_a_caller_cancelled_while_taking_the_lock_does_not_leak_it(env: Env) -> None:
    """Cancelled after SET NX reached Redis but before its answer: the lock is still released."""
    env.server.faults.latency = 30.0
    async with slow_replies(env.redis_server.port, delay=0.3) as port:
        client = redis.asyncio.Redis(port=port, socket_timeout=5)
        holder = shared(env, client, lock_timeout=30, redis_timeout=5)
        lock = RedisKeys.build(env.namespace, holder.identity).lock
        try:
            with anyio.fail_after(10):
                await client.ping()  # connection set-up is not what is being cut short
                async with anyio.create_task_group() as tg:
                    tg.start_soon(holder.token)
                    while not await env.clients[1].exists(lock):  # noqa: ASYNC110 - polls Redis
                        await anyio.sleep(0.005)
                    tg.cancel_scope.cancel()  # its SET NX answer is still on the way
                assert not await env.clients[1].exists(lock)
        finally:
            await client.aclose()
    assert env.server.counters.token_requests == 0


@asynccontextmanager
async def slow_replies(upstream: int, *, delay: float) -> AsyncIterator[int]:
    """A loopback TCP proxy to ``upstream`` that delays every reply chunk by ``delay``."""

    async def pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream, wait: float) -> None:
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            while True:
                data = await source.receive()
                await anyio.sleep(wait)
                await sink.send(data)

    async def handle(client: anyio.abc.SocketStream) -> None:
        async with client, await anyio.connect_tcp("127.0.0.1", upstream) as server:
            async with anyio.create_task_group() as tg:
                tg.start_soon(pipe, client, server, 0.0)
                await pipe(server, client, delay)
                tg.cancel_scope.cancel()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 - anyio
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("encryption_key", [None, KEY], ids=["plain", "sealed"])
async def test_an_identity_at_rest_costs_one_key_about_the_size_of_its_token(
    env: Env, encryption_key: bytes | None
) -> None:
    """At rest an identity holds one key (MEMORY USAGE ≤ twice the token plus 512 bytes)."""
    source = shared(env, env.clients[0], encryption_key=encryption_key)
    token = await source.token()
    with env.redis_server.client() as inspect:
        keys = list(inspect.scan_iter(match=f"{env.namespace}:*"))
        used = inspect.memory_usage(source.redis_key)
    assert keys == [source.redis_key.encode()]  # the lock is gone, no cooldown
    assert used is not None
    assert used <= 2 * len(token.access_token) + 512


async def test_a_due_token_about_to_expire_is_waited_for_not_handed_out(
    redis_server: RedisServer, namespace: str
) -> None:
    """A token valid when read but spent once the slow read returns: callers wait, never fail."""
    server = AuthorizationServer()  # the real clock here: the read itself must take time
    async with slow_replies(redis_server.port, delay=0.15) as port:
        client = redis.asyncio.Redis(port=port, socket_timeout=5)
        source = RedisShared(
            make_source(server, time.time),  # type: ignore[arg-type]
            client,
            namespace=namespace,
            redis_timeout=5,
        )
        await client.ping()  # connection set-up (several slow replies) is not the read
        now = time.time()
        # Another process holds the lock (and will not finish); the stored
        # token is due and lives 0.1 s more: less than the read takes.
        planted = Token("about-to-expire", expires_at=now + 0.1, refresh_at=now - 1)
        with redis_server.client() as inspect:
            inspect.set(source.redis_key, Envelope(source.identity).seal(planted), px=100)
            inspect.set(source.redis_key.replace(":token", ":lock"), "gone:1:x", px=600)
        try:
            with anyio.fail_after(15):
                tokens = await call_many([source], 10)
        finally:
            await client.aclose()
    assert {t.access_token for t in tokens} != {"about-to-expire"}
    assert len({t.access_token for t in tokens}) == 1
    assert server.counters.token_requests == 1
