"""On trio, RedisShared refuses clearly; InMemoryShared is covered on both backends."""

from __future__ import annotations

import pytest
import redis.asyncio

from tokensources import ConfigError, Static
from tokensources.shared import RedisShared

from .redis_servers import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """trio only: this module checks the refusal."""
    return "trio"


async def test_redis_shared_refuses_trio_with_a_clear_error(redis_server: RedisServer) -> None:
    """token() under trio raises ConfigError naming trio and asyncio, before touching Redis."""
    client = redis.asyncio.Redis(port=redis_server.port)
    source = RedisShared(Static("a-token"), client, key="trio-check")
    with pytest.raises(ConfigError) as caught:
        await source.token()
    message = str(caught.value)
    assert "trio" in message
    assert "asyncio" in message
    assert "InMemoryShared" in message
    assert "a-token" not in message
