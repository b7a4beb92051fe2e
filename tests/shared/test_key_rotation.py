"""Rotating the encryption key without a refresh storm: every step of a rotation shares one token.

A rotation goes ``[old]`` → ``[new, old]`` → ``[new]``, and while it rolls
out, processes on two neighbouring steps run side by side. Each pair must
share one token and one refresh (one request per token lifetime for both
fleets together), and no value is ever stored in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.support.redis_clients import Flavour, open_clients
from tests.support.redis_servers import RedisServer
from tests.support.shared_helpers import call_many, make_source
from tokensources.shared import RedisShared
from tokensources.shared._envelope import Envelope
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

OLD, NEW = bytes(range(32)), bytes(range(100, 132))
STEPS = {"old": (OLD,), "both": (NEW, OLD), "new": (NEW,)}


@pytest.fixture(params=[Flavour("redis", "asyncio"), Flavour("coredis", "trio")], ids=str)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """redis-py on asyncio, and coredis on trio."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(flavour: Flavour) -> str:
    """The event loop of the flavour."""
    return flavour.backend


def fleet(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: Sequence[Any],
    namespace: str,
    keys: tuple[bytes, ...],
) -> list[RedisShared]:
    """A fleet of members (one per client) sealing with ``keys``."""
    return [
        RedisShared(
            make_source(server, clock),
            client,
            namespace=namespace,
            clock=clock,
            encryption_key=keys,
        )
        for client in clients
    ]


@pytest.mark.parametrize(("before", "after"), [("old", "both"), ("both", "new")])
async def test_two_fleets_mid_rotation_share_one_token_per_lifetime(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    redis_server: RedisServer,
    before: str,
    after: str,
) -> None:
    """Fleets on neighbouring steps of a rotation make one request per lifetime between them."""
    server.faults.latency = 0.05
    async with open_clients(flavour.library, 6, port=redis_server.port) as clients:
        first = fleet(server, clock, clients[:3], namespace, STEPS[before])
        second = fleet(server, clock, clients[3:], namespace, STEPS[after])
        for lifetime in range(3):
            tokens = await call_many([*first, *second], 10)
            assert len(tokens) == 60
            assert len({t.access_token for t in tokens}) == 1
            assert server.counters.token_requests == lifetime + 1
            clock.advance(server.token_lifetime + 1)


async def test_mid_rotation_each_location_holds_the_token_sealed_with_its_own_key(
    server: AuthorizationServer,
    clock: FakeClock,
    flavour: Flavour,
    namespace: str,
    redis_server: RedisServer,
) -> None:
    """A member on both keys stores the token under each key's names, sealed with that key."""
    async with open_clients(flavour.library, 3, port=redis_server.port) as clients:
        (rotating,) = fleet(server, clock, clients[:1], namespace, STEPS["both"])
        (old,) = fleet(server, clock, clients[1:2], namespace, STEPS["old"])
        (new,) = fleet(server, clock, clients[2:], namespace, STEPS["new"])
        token = await rotating.token()
        assert rotating.redis_key == new.redis_key != old.redis_key
        with redis_server.client() as inspect:
            under_new = inspect.get(new.redis_key)
            under_old = inspect.get(old.redis_key)
        assert Envelope(rotating.identity, (NEW,)).open(under_new) == token
        assert Envelope(rotating.identity, (OLD,)).open(under_old) == token
        assert Envelope(rotating.identity, (NEW,)).open(under_old) is None
        assert token.access_token.encode() not in (under_new or b"") + (under_old or b"")
        # Processes still on the old key, and those already on the new one, both read it.
        assert (await old.token()).access_token == token.access_token
        assert (await new.token()).access_token == token.access_token
    assert server.counters.token_requests == 1
