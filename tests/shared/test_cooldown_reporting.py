"""A Retry-After met by any attempt inside RedisShared becomes a fleet-wide cooldown at once.

``RedisShared`` finds the ``retry()`` in the chain it is given and observes
it while it refreshes, so the cooldown is recorded while that ``retry()`` is
still waiting, whichever task makes the attempts.

asyncio only: redis-py's asyncio client does not run on trio.
"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest
import redis.asyncio

from tests.support.clock import FakeClock
from tests.support.shared_helpers import make_source
from tokensources import Token, TokenSource
from tokensources.shared import RedisShared
from tokensources.shared._redis_keys import RedisKeys
from tokensources.testing import AuthorizationServer
from tokensources.wrappers import retry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: redis-py's asyncio client does not run on trio."""
    return "asyncio"


class HeldSleep:
    """An injected sleep for retry(): records each wait and holds it until the test lets go."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.waiting = anyio.Event()
        self.go = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.waiting.set()
        await self.go.wait()


class ViaWorker:
    """A wrapper whose inner calls are all made by one long-lived task, as a pool's would be."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source
        self._send, self._receive = anyio.create_memory_object_stream[
            anyio.abc.ObjectSendStream[Token | Exception]
        ]()

    async def serve(self) -> None:
        """Make the inner calls that token() asks for, one at a time, until cancelled."""
        with self._send, self._receive:
            async for reply in self._receive:
                outcome: Token | Exception
                try:
                    outcome = await self.source.token()
                except Exception as exc:
                    outcome = exc
                await reply.send(outcome)

    async def token(self) -> Token:
        """Have the worker task fetch a token."""
        send, receive = anyio.create_memory_object_stream[Token | Exception](1)
        async with send, receive:
            await self._send.send(send)
            outcome = await receive.receive()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def invalidate(self, token: Token) -> None:
        """Pass the report down."""
        self.source.invalidate(token)


async def test_a_retry_after_is_shared_while_the_retry_waits_whichever_task_calls_it(
    server: AuthorizationServer,
    clock: FakeClock,
    clients: list[redis.asyncio.Redis],
    namespace: str,
) -> None:
    """A 429 met by a retry() that another task drives is recorded before that retry() waits."""
    sleep = HeldSleep()
    worker = ViaWorker(retry(make_source(server, clock), sleep=sleep))
    member = RedisShared(worker, clients[0], namespace=namespace, clock=clock)
    cooldown = RedisKeys.build(namespace, member.identity).cooldown
    server.faults.fail_next(1, 429, retry_after=30)
    tokens: list[Token] = []

    async def fetch() -> None:
        tokens.append(await member.token())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.serve)
            tg.start_soon(fetch)
            await sleep.waiting.wait()  # the retry() waits out the Retry-After now
            while not await clients[1].exists(cooldown):  # noqa: ASYNC110 - polls Redis
                await anyio.sleep(0.01)
            assert 29_000 < await clients[1].pttl(cooldown) <= 30_000
            sleep.go.set()
            while not tokens:  # noqa: ASYNC110 - the worker runs until cancelled
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert sleep.delays == [30.0]
    server.verify_access_token(tokens[0].access_token)
    assert server.counters.token_requests == 2
