"""A fleet of real OS processes sharing one token through Redis, for the fleet tests.

Each process (started with the ``spawn`` method) builds its own
``ClientCredentials``, Redis client (redis-py's or valkey-py's, of one server
or a cluster) and ``RedisShared``, waits at a barrier so that all
start together, runs ``callers`` concurrent ``token()`` calls per phase and
reports what it got. All processes read one shared fake clock, which the
test moves between phases, so token lifetimes pass without sleeping.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import anyio

__all__ = ["Fleet", "FleetConfig", "PhaseResult"]

START_TIME = 1_800_000_000.0
TIMEOUT = 60.0


@dataclass(frozen=True)
class FleetConfig:
    """What every process of the fleet does."""

    token_url: str
    client_id: str
    client_secret: str
    redis_port: int
    namespace: str
    cluster: bool = False
    library: str = "redis"
    """The client library of every process: ``redis`` (redis-py) or ``valkey`` (valkey-py)."""
    callers: int = 100
    phases: int = 1
    lock_timeout: float = 10.0
    wait_timeout: float | None = None


@dataclass(frozen=True)
class PhaseResult:
    """What one process saw in one phase."""

    pid: int
    phase: int
    fingerprints: frozenset[str]
    calls: int
    errors: tuple[str, ...] = field(default=())
    events: tuple[str, ...] = field(default=())
    """Kinds of the Redis-level events (lock_wait, cooldown, fallback) seen in the phase."""


def _worker(config: FleetConfig, clock: Any, barrier: Any, results: Any) -> None:
    """The body of one fleet process."""
    try:
        anyio.run(_work, config, clock, barrier, results)
    except BaseException as exc:  # report, or the test would only see a timeout
        results.put(("crash", os.getpid(), repr(exc)))
        raise


def _client(config: FleetConfig) -> Any:
    """A client of the configured library, for the server or the cluster at ``redis_port``."""
    if config.library == "valkey":
        import valkey.asyncio

        single: Any = valkey.asyncio.Valkey
        cluster: Any = valkey.asyncio.ValkeyCluster
    else:
        import redis.asyncio

        single, cluster = redis.asyncio.Redis, redis.asyncio.RedisCluster
    if config.cluster:
        return cluster(host="127.0.0.1", port=config.redis_port)
    return single(port=config.redis_port)


async def _work(config: FleetConfig, clock: Any, barrier: Any, results: Any) -> None:
    from tokensources import ClientCredentials, TokenEvent
    from tokensources.shared import RedisShared

    def now() -> float:
        return float(clock.value)

    events: list[str] = []

    def on_event(event: TokenEvent) -> None:
        if event.source == "redis":
            events.append(event.kind)

    client = _client(config)
    await client.ping()  # connect before the start line, not during the storm
    credentials = ClientCredentials(
        config.token_url, config.client_id, config.client_secret, clock=now
    )
    source = RedisShared(
        credentials,
        client,
        namespace=config.namespace,
        lock_timeout=config.lock_timeout,
        wait_timeout=config.wait_timeout,
        clock=now,
        on_event=on_event,
    )
    for phase in range(config.phases):
        await anyio.to_thread.run_sync(barrier.wait, TIMEOUT)
        events.clear()
        outcome = await _phase(source, config.callers, phase)
        results.put(("phase", replace(outcome, events=tuple(events))))
    await source.aclose()
    await client.aclose()


async def _phase(source: Any, callers: int, phase: int) -> PhaseResult:
    fingerprints: list[str] = []
    errors: list[str] = []

    async def call() -> None:
        try:
            fingerprints.append((await source.token()).fingerprint)
        except Exception as exc:
            errors.append(repr(exc))

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(call)
    return PhaseResult(
        os.getpid(), phase, frozenset(fingerprints), len(fingerprints), tuple(errors)
    )


class Fleet:
    """``processes`` fleet processes, started on entry and reaped on exit."""

    def __init__(self, config: FleetConfig, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.config = config
        self.clock = context.RawValue("d", START_TIME)
        self._barrier = context.Barrier(processes + 1)
        self._results = context.Queue()
        self.processes = [
            context.Process(
                target=_worker, args=(config, self.clock, self._barrier, self._results), daemon=True
            )
            for _ in range(processes)
        ]

    def __enter__(self) -> Fleet:
        for process in self.processes:
            process.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        deadline = time.monotonic() + 10
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
        self._results.close()

    def advance(self, seconds: float) -> None:
        """Move every process's clock forward."""
        self.clock.value += seconds

    def start_phase(self) -> None:
        """Release every process into the next phase, all at once."""
        self._barrier.wait(TIMEOUT)

    def collect(self, count: int | None = None) -> list[PhaseResult]:
        """The results of the current phase from ``count`` processes (default: all)."""
        expected = len(self.processes) if count is None else count
        collected: list[PhaseResult] = []
        deadline = time.monotonic() + TIMEOUT
        while len(collected) < expected:
            try:
                kind, *payload = self._results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(
                    f"only {len(collected)} of {expected} processes reported"
                ) from None
            if kind == "crash":
                raise RuntimeError(f"fleet process {payload[0]} crashed: {payload[1]}")
            collected.append(payload[0])
        return collected

    def run_phase(self) -> list[PhaseResult]:
        """Start a phase and wait for every process's result."""
        self.start_phase()
        return self.collect()
