"""Bad stores and bad clients: refused clearly, or served around without a failed call.

Against real servers: an ACL user without ``EVAL``/``EVALSHA``, and a
server with both disabled (scripts refused: plain commands instead); a
read-only replica promoted late (writes answer ``READONLY``); and a server
requiring a password the client lacks (logged once, tokens fetched
directly, no secret in the logs). Each runs for every client library on
each loop it runs on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import coredis
import pytest
import redis
import redis.asyncio
import valkey
from coredis.connection import TCPLocation

from tests.support.clock import FakeClock
from tests.support.redis_clients import Flavour, open_clients
from tests.support.redis_servers import RedisServer, running
from tests.support.redis_topologies import Node, wait_until
from tests.support.shared_helpers import call_many, make_source
from tokensources import ConfigError, Static
from tokensources.cli._redis import free_port, redis_binary
from tokensources.shared import RedisShared
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

PASSWORD = "s3cr3t-store-password-9f2c"


@pytest.fixture
def anyio_backend(flavour: Flavour) -> str:
    """The event loop of the flavour."""
    return flavour.backend


def members(
    server: AuthorizationServer, clock: FakeClock, clients: list[Any], namespace: str
) -> list[RedisShared]:
    """One RedisShared per client, each over a source of its own (one per process)."""
    return [
        RedisShared(make_source(server, clock), client, namespace=namespace, clock=clock)
        for client in clients
    ]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every message logged so far, one per line."""
    return "\n".join(record.getMessage() for record in caplog.records)


UNSUPPORTED = {
    "object": (object(), None),
    "dict": ({"host": "127.0.0.1"}, None),
    "redis-sync": (redis.Redis(), "the synchronous client; use redis.asyncio's"),
    "valkey-sync": (valkey.Valkey(), "the synchronous client; use valkey.asyncio's"),
    "redis-pool": (redis.asyncio.ConnectionPool(), None),
    "redis-sentinel": (
        redis.asyncio.Sentinel([("127.0.0.1", 1)]),  # type: ignore[no-untyped-call]
        "the Sentinel itself; pass the client that its master_for(name) returns",
    ),
    "coredis-sentinel": (
        coredis.Sentinel(sentinels=[TCPLocation("127.0.0.1", 1)]),
        "the Sentinel itself; pass the client that its primary_for(name) returns",
    ),
}


@pytest.mark.parametrize(("client", "hint"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_an_unsupported_client_is_refused_naming_what_is_supported(
    client: object, hint: str | None
) -> None:
    """A client object of an unsupported type is a ConfigError naming the supported ones."""
    with pytest.raises(ConfigError) as caught:
        RedisShared(Static("a-token"), client, key="k")  # type: ignore[arg-type]
    message = str(caught.value)
    for supported in ("redis.asyncio", "valkey.asyncio", "coredis", "Sentinel"):
        assert supported in message
    assert type(client).__qualname__ in message
    assert "a-token" not in message
    if hint is not None:
        assert hint in message


@pytest.fixture
def no_scripts_user(redis_server: RedisServer) -> Iterator[str]:
    """An ACL user of the session's server that may run every command but EVAL and EVALSHA."""
    name = f"noscript-{free_port()}"
    with redis_server.client() as admin:
        admin.acl_setuser(
            name,
            enabled=True,
            passwords=[f"+{PASSWORD}"],
            keys=["*"],
            commands=["+@all", "-eval", "-evalsha"],
        )
        try:
            yield name
        finally:
            admin.acl_deluser(name)


async def test_scripts_refused_by_the_acl_fall_back_to_plain_commands(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    redis_server: RedisServer,
    no_scripts_user: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without EVAL the fleet still shares one token and releases its lock; said once, no secret."""
    login: dict[str, Any] = {"username": no_scripts_user, "password": PASSWORD}
    with caplog.at_level(logging.DEBUG, logger="tokensources"):
        async with open_clients(flavour.library, 4, port=redis_server.port, **login) as clients:
            await share_without_scripts(server, clock, clients, namespace)
    text = logged(caplog)
    # Each member learns it once; the lock was released by plain compare-and-delete.
    assert text.count("refused a script") == 4
    assert "NOPERM" in text or "permission" in text
    assert "Redis unavailable" not in text
    assert PASSWORD not in text
    with redis_server.client() as inspect:
        assert not list(inspect.scan_iter(match=f"{namespace}:*:lock"))


@pytest.fixture
def scriptless_server(tmp_path: Path) -> Iterator[Node]:
    """A server on which EVAL and EVALSHA are disabled (renamed away), as some services do."""
    disabled = ["--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""]
    with running(
        Node(redis_binary(), tmp_path / "scriptless", port=free_port(), args=disabled)
    ) as node:
        yield node


async def test_scripts_disabled_by_the_server_fall_back_to_plain_commands(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    scriptless_server: Node,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server without EVAL ("unknown command") is served by plain commands, said once each."""
    with caplog.at_level(logging.DEBUG, logger="tokensources"):
        async with open_clients(flavour.library, 4, port=scriptless_server.port) as clients:
            await share_without_scripts(server, clock, clients, namespace)
    text = logged(caplog)
    assert text.count("refused a script") == 4
    assert "unknown command" in text.lower()
    assert "Redis unavailable" not in text
    with scriptless_server.client() as inspect:
        assert not list(inspect.scan_iter(match=f"{namespace}:*:lock"))


async def share_without_scripts(
    server: AuthorizationServer, clock: FakeClock, clients: list[Any], namespace: str
) -> None:
    """Two lifetimes of 25 callers on each client: one token per lifetime, shared by all."""
    server.faults.latency = 0.1
    fleet = members(server, clock, clients, namespace)
    tokens = await call_many(fleet, 25)
    clock.advance(server.token_lifetime + 1)
    later = await call_many(fleet, 25)
    assert len({t.access_token for t in tokens}) == 1
    assert len({t.access_token for t in later}) == 1
    assert len(tokens) == len(later) == 25 * len(fleet)
    assert server.counters.token_requests == 2


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Node]:
    """A server that is the read-only replica of a master that is not there."""
    with running(
        Node(
            redis_binary(),
            tmp_path / "replica",
            port=free_port(),
            args=["--replicaof", "127.0.0.1", str(free_port())],
        )
    ) as node:
        yield node


async def test_a_read_only_replica_promoted_late_fails_no_call(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    replica: Node,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Writes answering READONLY cost a direct fetch per member; once promoted, the fleet shares."""
    with caplog.at_level(logging.WARNING, logger="tokensources"):
        async with open_clients(flavour.library, 3, port=replica.port) as clients:
            fleet = members(server, clock, clients, namespace)
            during = await call_many(fleet, 20)
            assert len(during) == 60
            assert server.counters.token_requests == len(fleet)  # one each, none per caller
            with replica.client() as admin:
                admin.execute_command("REPLICAOF", "NO", "ONE")
                wait_until(lambda: admin.info("replication")["role"] == "master", 10, "promotion")
            clock.advance(server.token_lifetime + 1)
            after = await call_many(fleet, 20)
    assert len({t.access_token for t in after}) == 1
    assert server.counters.token_requests == len(fleet) + 1
    assert "READONLY" in logged(caplog) or "read only" in logged(caplog)


@pytest.fixture
def guarded_server(tmp_path: Path) -> Iterator[Node]:
    """A server that requires a password."""
    with running(
        Node(redis_binary(), tmp_path / "guarded", port=free_port(), password=PASSWORD)
    ) as node:
        yield node


@pytest.mark.parametrize("password", [None, "wrong-password-4b1d"], ids=["missing", "wrong"])
async def test_a_missing_or_wrong_password_is_logged_once_and_tokens_still_come(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    guarded_server: Node,
    password: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused by the server, each member logs one error, fetches directly, and shows no secret."""
    login: dict[str, Any] = {} if password is None else {"password": password}
    with caplog.at_level(logging.DEBUG, logger="tokensources"):
        async with open_clients(
            flavour.library, 2, port=guarded_server.port, connect=False, **login
        ) as clients:
            fleet = members(server, clock, clients, namespace)
            for lifetime in range(3):
                tokens = await call_many(fleet, 10)
                assert len(tokens) == 20
                assert server.counters.token_requests == len(fleet) * (lifetime + 1)
                clock.advance(server.token_lifetime + 1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == len(fleet)  # once per member, not once per refresh
    assert all("credentials" in r.getMessage() for r in errors)
    text = logged(caplog)
    assert PASSWORD not in text
    if password is not None:
        assert password not in text
