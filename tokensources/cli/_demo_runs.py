"""The demo's runs: one workload through one token source, in this process or a fleet."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import anyio

from .._source import TokenSource
from ..wrappers import buffer, retry, reuse
from ._fleet import FleetSpec, run_fleet
from ._load import LoadResult, TokenRequestCounter, run_load
from ._progress import Progress
from ._setup import BUFFER_FRACTION, credentials, token_client
from ._spawn import ServerProcess

__all__ = ["Workload", "fleet_run", "load_run"]

T = TypeVar("T")

_FLEET_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class Workload:
    """``tasks`` concurrent clients, each sending ``requests`` API requests one after another."""

    tasks: int
    requests: int

    @property
    def total(self) -> int:
        """Every request of the workload."""
        return self.tasks * self.requests


def load_run(
    server: ServerProcess, backend: str, workload: Workload, *, cached: bool
) -> LoadResult:
    """Send ``workload`` to ``server``'s API on ``backend``, with reuse() or without.

    ``cached``: every client authenticates through one
    ``reuse(buffer(retry(ClientCredentials)))``; otherwise through the bare
    ``ClientCredentials``, which fetches a token for every request.

    Raises:
        KeyboardInterrupt: Ctrl-C or SIGTERM stopped the run, after every
            client was closed.
    """
    title = "with reuse()" if cached else "without reuse()"
    work = partial(_load, server, workload, cached, Progress(title, workload.total))
    return anyio.run(_interruptible, work, backend=backend)


async def _load(
    server: ServerProcess, workload: Workload, cached: bool, progress: Progress
) -> LoadResult:
    counter = TokenRequestCounter()
    async with token_client(counter, workload.tasks) as http:
        source: TokenSource = credentials(server.token_url, http)
        if cached:
            early = server.token_lifetime * BUFFER_FRACTION
            source = reuse(buffer(retry(source), seconds=early))
        try:
            return await run_load(
                server.base + "/api/private",
                source,
                counter,
                tasks=workload.tasks,
                requests=workload.requests,
                progress=progress,
            )
        finally:
            progress.done()


async def _interruptible(function: Callable[[], Awaitable[T]]) -> T:
    # Our own signal handling: the cancel scope then stops every client task
    # and closes its connections, on asyncio and trio alike.
    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def work() -> None:
            try:
                outcome.append(await function())
            except Exception as exc:  # re-raised below, outside the task group
                failure.append(exc)
            tg.cancel_scope.cancel()

        tg.start_soon(work)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                tg.cancel_scope.cancel()
                break
    if failure:
        raise failure[0]
    if not outcome:
        raise KeyboardInterrupt
    return outcome[0]


def fleet_run(
    server: ServerProcess, redis_url: str, workload: Workload, processes: int
) -> LoadResult:
    """Split ``workload`` over ``processes`` worker processes sharing one token through Redis.

    Raises:
        ConfigError: a worker did not start, failed, or did not report in time.
    """
    spec = FleetSpec(
        api_url=server.base + "/api/private",
        token_url=server.token_url,
        redis_url=redis_url,
        tasks=max(1, workload.tasks // processes),
        requests=workload.requests,
        token_lifetime=server.token_lifetime,
    )
    return run_fleet(spec, processes, run_timeout=_FLEET_TIMEOUT)
