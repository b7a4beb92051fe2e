"""The demo's fleet mode: several client processes sharing one token through Redis."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import queue
import signal
import time
from dataclasses import dataclass

import anyio

from .._errors import ConfigError
from ..wrappers import buffer, retry
from ._load import LoadResult, TokenRequestCounter, run_load
from ._setup import BUFFER_FRACTION, credentials, token_client

__all__ = ["FleetSpec", "run_fleet"]

_START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What each worker process runs.

    Attributes:
        api_url: the protected API.
        token_url: the token endpoint.
        redis_url: the Redis every worker shares its token through.
        tasks: client tasks in this worker.
        requests: requests per task.
        token_lifetime: the server's token lifetime, for buffer().
    """

    api_url: str
    token_url: str
    redis_url: str
    tasks: int
    requests: int
    token_lifetime: float


def run_fleet(spec: FleetSpec, processes: int, run_timeout: float) -> LoadResult:
    """Run ``processes`` workers of ``spec`` at once and merge what they did.

    Workers are spawned (not forked), wait at a barrier so that they start
    together, and report their ``LoadResult`` through a queue.

    Raises:
        ConfigError: a worker did not start or did not report in time.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results: multiprocessing.Queue[LoadResult | str] = context.Queue()
    workers = [
        context.Process(target=_worker, args=(spec, barrier, results), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        try:
            barrier.wait(timeout=_START_TIMEOUT)
        except Exception:
            raise ConfigError("the fleet's worker processes did not start in time") from None
        started = time.perf_counter()
        merged = LoadResult(tasks=spec.tasks * processes, requests_per_task=spec.requests)
        for _ in workers:
            try:
                outcome = results.get(timeout=run_timeout)
            except queue.Empty:
                raise ConfigError("a worker process did not report in time") from None
            if isinstance(outcome, str):
                raise ConfigError(f"a worker process failed: {outcome}")
            _merge(merged, outcome)
        merged.duration = time.perf_counter() - started
        return merged
    except BaseException:
        # Interrupted or failed: do not wait for workers that may run for minutes.
        for worker in workers:
            worker.terminate()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()


def _merge(into: LoadResult, part: LoadResult) -> None:
    into.succeeded += part.succeeded
    into.failures.update(part.failures)
    into.token_requests += part.token_requests
    into.latencies.extend(part.latencies)
    # Wall-clock instants: the span covers every worker's requests.
    for at in (part.first_sent_at, part.last_sent_at):
        if at is not None:
            into.note_sent(at)


def _worker(
    spec: FleetSpec,
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue[LoadResult | str],
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        results.put(anyio.run(_work, spec, barrier))
    except Exception as exc:  # reported to the parent, which names it
        results.put(f"{type(exc).__name__}: {exc}")


async def _work(spec: FleetSpec, barrier: multiprocessing.synchronize.Barrier) -> LoadResult:
    import redis.asyncio

    from ..shared import RedisShared

    client = redis.asyncio.Redis.from_url(
        spec.redis_url, socket_timeout=5, socket_connect_timeout=5
    )
    counter = TokenRequestCounter()
    try:
        async with token_client(counter, 4) as http:
            inner = buffer(
                retry(credentials(spec.token_url, http)),
                seconds=spec.token_lifetime * BUFFER_FRACTION,
            )
            source = RedisShared(inner, client)
            await anyio.to_thread.run_sync(barrier.wait)
            return await run_load(
                spec.api_url, source, counter, tasks=spec.tasks, requests=spec.requests
            )
    finally:
        await client.aclose()
