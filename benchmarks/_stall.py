"""How long the event loop stopped running other tasks: a ticker's lateness.

A task that sleeps ``interval`` seconds in a loop wakes late when something
keeps the loop busy (a blocking call, a long stretch of CPU work inside one
task, a pile of callbacks). Its worst lateness is the longest stall another
task would have seen: a health check, a heartbeat, a response to a client.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.abc

__all__ = ["Stall", "stall_meter"]


@dataclass
class Stall:
    """What the ticker saw: its worst lateness, in seconds, and how many ticks it made."""

    longest: float = 0.0
    ticks: int = 0

    def record(self, lateness: float) -> None:
        """Count one tick that woke ``lateness`` seconds after it was due."""
        self.ticks += 1
        self.longest = max(self.longest, lateness)


async def _tick(stall: Stall, interval: float, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    task_status.started()
    while True:
        due = time.perf_counter() + interval
        await anyio.sleep(interval)
        stall.record(max(0.0, time.perf_counter() - due))


@asynccontextmanager
async def stall_meter(interval: float = 0.005) -> AsyncIterator[Stall]:
    """Measure the event loop's stalls while the body runs; the result fills in as it goes."""
    stall = Stall()
    async with anyio.create_task_group() as tg:
        await tg.start(_tick, stall, interval)  # ticking before the work starts
        try:
            yield stall
        finally:
            tg.cancel_scope.cancel()
