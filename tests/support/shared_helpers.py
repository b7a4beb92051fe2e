"""Helpers for the shared-source tests: sources, callers, passing time, command counts."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import redis.asyncio

from tests.support.clock import FakeClock
from tests.support.redis_servers import RedisServer
from tokensources import ClientCredentials, Token, TokenSource
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer


def make_source(
    server: AuthorizationServer, clock: FakeClock, **overrides: object
) -> ClientCredentials:
    """A ClientCredentials for the demo client, built from scratch with its own HTTP client."""
    settings: dict[str, object] = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "scopes": ("read:messages",),
    }
    settings.update(overrides)
    return ClientCredentials(
        server.token_endpoint,
        http=server.client(),
        clock=clock,
        allow_insecure_http=True,
        **settings,  # type: ignore[arg-type]
    )


async def call_many(sources: Sequence[TokenSource], callers: int) -> list[Token]:
    """Call token() ``callers`` times on each source, all at once; return every result."""
    results: list[Token] = []

    async def call(source: TokenSource) -> None:
        results.append(await source.token())

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for source in sources:
                for _ in range(callers):
                    tg.start_soon(call, source)
    return results


class FleetTime:
    """Time passing for a fleet on fake clocks: every member's clock, and Redis's expiries.

    Redis counts TTLs down on its own clock, which a test cannot move; so
    ``advance`` shortens every key's TTL under ``namespace`` by the same
    amount (deleting the keys whose TTL runs out), as if that time had
    passed for Redis too.
    """

    def __init__(
        self, redis: redis.asyncio.Redis, namespace: str, clocks: Sequence[FakeClock]
    ) -> None:
        self._redis = redis
        self._namespace = namespace
        self._clocks = clocks

    async def advance(self, seconds: float) -> None:
        """Move every clock and every TTL under the namespace forward by ``seconds``."""
        for clock in self._clocks:
            clock.advance(seconds)
        async for key in self._redis.scan_iter(match=f"{self._namespace}:*"):
            left = await self._redis.pttl(key)
            if left < 0:
                continue  # no expiry, or gone meanwhile
            if left <= seconds * 1000:
                await self._redis.delete(key)
            else:
                await self._redis.pexpire(key, left - round(seconds * 1000))


class CommandCounter:
    """Counts the commands a Redis server executes, through one inspecting connection."""

    def __init__(self, server: RedisServer) -> None:
        self._client = server.client()
        self._client.ping()  # connection set-up commands happen now, not mid-count

    def __call__(self) -> int:
        return sum(self.by_command().values())

    def by_command(self) -> dict[str, int]:
        """Calls so far per command (commands run inside scripts included), INFO excluded."""
        stats = self._client.info("commandstats")
        return {k[8:]: v["calls"] for k, v in stats.items() if k != "cmdstat_info"}

    def close(self) -> None:
        """Close the inspecting connection."""
        self._client.close()
