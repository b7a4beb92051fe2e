"""A refresh left open by an event loop that is gone never blocks or breaks a later loop."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from tests.support.clock import FakeClock
from tokensources import Token
from tokensources.wrappers import Reuse, reuse


class FirstCallHangs:
    """An inner source whose first call never returns; later calls mint hour-long tokens."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0

    async def token(self) -> Token:
        """Hang on the first call, answer the others."""
        self.calls += 1
        if self.calls == 1:
            await anyio.sleep_forever()
        return Token(f"token-{self.calls}", expires_at=self.clock() + 3600)

    def invalidate(self, token: Token) -> None:
        """Nothing to drop."""


async def _leave_a_refresh_open(cache: Reuse, source: FirstCallHangs) -> list[asyncio.Task[Token]]:
    """Start a refreshing caller and a waiting one; return once both are stuck."""
    tasks = [asyncio.ensure_future(cache.token()) for _ in range(2)]
    await anyio.wait_all_tasks_blocked()
    assert source.calls == 1  # one caller refreshes, the other waits for it
    return tasks


async def _ten_callers(cache: Reuse) -> list[Token]:
    tokens: list[Token] = []

    async def call() -> None:
        tokens.append(await cache.token())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(call)
    return tokens


@pytest.mark.parametrize("later", ["asyncio", "trio"])
def test_a_loop_closed_during_a_refresh_leaves_later_loops_served(
    clock: FakeClock, later: str
) -> None:
    """An asyncio loop closed mid-refresh: a later loop's callers get one new token, and no error.

    The first loop is asyncio by nature: only an asyncio loop can be closed
    with tasks still pending (trio always finishes its tasks); the later loop
    runs on both backends.
    """
    source = FirstCallHangs(clock)
    cache = reuse(source, clock=clock)
    dead = asyncio.new_event_loop()
    # The two stuck tasks are destroyed with the loop, on purpose: keep that quiet.
    dead.set_exception_handler(lambda loop, context: None)
    stuck = dead.run_until_complete(_leave_a_refresh_open(cache, source))
    dead.close()

    tokens = anyio.run(_ten_callers, cache, backend=later)
    assert source.calls == 2
    assert len(tokens) == 10
    assert all(token is tokens[0] for token in tokens)
    assert cache.peek() is tokens[0]

    # What the garbage collector does to the dead loop's coroutines: closing
    # them runs their clean-up, which must neither raise nor disturb the cache.
    for task in stuck:
        task.get_coro().close()
    assert anyio.run(cache.token, backend=later) is tokens[0]
    assert source.calls == 2
