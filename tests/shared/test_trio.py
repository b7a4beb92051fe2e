"""On trio: redis-py refuses clearly, naming coredis; coredis runs (see test_every_client.py).

The guarantees on trio (single flight, hot path, cooldown, encryption,
fallback) are held through coredis in ``test_every_client.py``; this module
checks the refusals that keep a wrong set-up from failing obscurely.
"""

from __future__ import annotations

import coredis
import pytest
import redis.asyncio
import valkey.asyncio

from tests.support.redis_servers import RedisServer
from tokensources import ConfigError, Static
from tokensources.shared import RedisShared

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """trio only: this module checks the refusals there."""
    return "trio"


@pytest.mark.parametrize("library", [redis.asyncio.Redis, valkey.asyncio.Valkey])
async def test_an_asyncio_only_client_on_trio_is_refused_naming_coredis(
    redis_server: RedisServer, library: type
) -> None:
    """token() under trio with redis-py or valkey-py raises ConfigError pointing to coredis."""
    client = library(port=redis_server.port)
    source = RedisShared(Static("a-token"), client, key="trio-check")
    with pytest.raises(ConfigError) as caught:
        await source.token()
    message = str(caught.value)
    assert "trio" in message
    assert "asyncio" in message
    assert "coredis" in message
    assert "InMemoryShared" in message
    assert "a-token" not in message


async def test_a_coredis_client_that_is_not_open_is_refused(redis_server: RedisServer) -> None:
    """A coredis client never entered (async with) is a ConfigError saying so, not an outage."""
    client = coredis.Redis(host="127.0.0.1", port=redis_server.port)
    source = RedisShared(Static("a-token"), client, key="not-open")
    with pytest.raises(ConfigError, match="async with") as caught:
        await source.token()
    assert "a-token" not in str(caught.value)


async def test_coredis_on_trio_shares_the_token(redis_server: RedisServer) -> None:
    """Two members on trio through coredis: the second reads the first's token from Redis."""
    async with coredis.Redis(host="127.0.0.1", port=redis_server.port) as client:
        first = RedisShared(Static("a-token"), client, key="trio-shared", namespace="trio-test")
        second = RedisShared(Static("b-token"), client, key="trio-shared", namespace="trio-test")
        assert (await first.token()).access_token == "a-token"
        assert (await second.token()).access_token == "a-token"
        await client.delete([first.redis_key])
