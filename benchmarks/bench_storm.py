"""A storm of requests on one ``httpx.AsyncClient``: time, event-loop stall, the bounded pattern.

N requests are started at once on one client whose pool holds 100
connections (httpx's default), to the testing server's protected API over
loopback (the server runs in a child process). Every contender has its
token before the clock starts, so this measures the HTTP client, not token
fetching:

- ``static header``: a hand-set ``Authorization`` header, the floor;
- ``TokenAuth``: ``TokenAuth(reuse(ClientCredentials(...)))``;
- ``authlib`` / ``httpx-auth``: their async clients, when installed;
- ``… bounded``: the same with an ``anyio.CapacityLimiter`` of the pool's
  size around each request, so that at most 100 requests are inside the
  client at a time and the rest wait in the limiter;
- ``TokenAuth(max_in_flight=100)``: the same bound, kept by ``TokenAuth``
  itself.

Without a bound, the requests beyond the pool's size queue inside
httpcore's connection pool, which re-examines its whole queue of waiting
requests each time a connection is taken or released; with hundreds
waiting, that work grows with the square of the queue and runs on the
event loop, which then stalls. ``longest_stall_ms`` is the worst lateness
of a ticker task (a 5 ms sleep in a loop): how long a health check or any
other task of the service waited; ``cpu_s`` is the client process's CPU.
``time_ratio`` and ``stall_ratio`` divide each contender's wall time and
longest stall by the static header's in the same round (the median of the
rounds' ratios; the other columns are the median round's).

Run: ``python -m benchmarks storm [--quick] [--requests N ...] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx

from benchmarks._common import ServerProcess, percentile, print_table, write_json
from benchmarks._extras import left_out_note, missing_peers
from benchmarks._stall import stall_meter
from tokensources import ClientCredentials, TokenAuth, reuse

CLIENT_ID = "storm-client"
CLIENT_SECRET = "storm-secret"  # the testing server's own client; not a real secret
POOL = 100  # httpx.Limits() default max_connections

Send = Callable[[], Awaitable[httpx.Response]]
Factory = Callable[[str], contextlib.AbstractAsyncContextManager[Send]]


def bounded(send: Send, limit: int = POOL) -> Send:
    """``send`` with at most ``limit`` calls in flight; the others wait their turn in order."""
    limiter = anyio.CapacityLimiter(limit)

    async def limited() -> httpx.Response:
        async with limiter:
            return await send()

    return limited


async def _fetch_token(base: str) -> str:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        token: str = answer.raise_for_status().json()["access_token"]
        return token


@contextlib.asynccontextmanager
async def _static(base: str) -> AsyncIterator[Send]:
    headers = {"Authorization": f"Bearer {await _fetch_token(base)}"}
    async with httpx.AsyncClient(headers=headers) as client:
        yield lambda: client.get(f"{base}/api/private")


@contextlib.asynccontextmanager
async def _tokenauth(base: str) -> AsyncIterator[Send]:
    source = reuse(ClientCredentials(f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET))
    async with source, httpx.AsyncClient(auth=TokenAuth(source)) as client:
        yield lambda: client.get(f"{base}/api/private")


@contextlib.asynccontextmanager
async def _tokenauth_bounded(base: str) -> AsyncIterator[Send]:
    source = reuse(ClientCredentials(f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET))
    auth = TokenAuth(source, max_in_flight=POOL)
    async with source, httpx.AsyncClient(auth=auth) as client:
        yield lambda: client.get(f"{base}/api/private")


@contextlib.asynccontextmanager
async def _authlib(base: str) -> AsyncIterator[Send]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
    client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=f"{base}/oauth/token",
        grant_type="client_credentials",
    )
    async with client:
        await client.fetch_token()
        yield lambda: client.get(f"{base}/api/private")


@contextlib.asynccontextmanager
async def _httpx_auth(base: str) -> AsyncIterator[Send]:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()
    auth = httpx_auth.OAuth2ClientCredentials(f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET)
    async with httpx.AsyncClient(auth=auth) as client:
        yield lambda: client.get(f"{base}/api/private")


def contenders(missing: list[str]) -> dict[str, tuple[Factory, bool]]:
    """Name → (factory, bounded?), for every contender that is installed."""
    unbounded: dict[str, Factory] = {"static header": _static, "TokenAuth": _tokenauth}
    if "authlib" not in missing:
        unbounded["authlib"] = _authlib
    if "httpx-auth" not in missing:
        unbounded["httpx-auth"] = _httpx_auth
    found = {name: (factory, False) for name, factory in unbounded.items()}
    found["static header, bounded"] = (_static, True)
    found["TokenAuth, bounded"] = (_tokenauth, True)
    found[f"TokenAuth(max_in_flight={POOL})"] = (_tokenauth_bounded, False)
    return found


async def storm(send: Send, requests: int) -> dict[str, Any]:
    """``requests`` concurrent calls of ``send``: time, latency, failures and the loop's stall."""
    latencies: list[float] = []
    failed = 0

    async def one() -> None:
        nonlocal failed
        began = time.perf_counter()
        try:
            response = await send()  # awaited first: ``failed +=`` must not span an await
            failed += response.status_code != 200
        except Exception:
            failed += 1
        latencies.append(time.perf_counter() - began)

    async with stall_meter() as stall:
        started, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(requests):
                tg.start_soon(one)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "requests": requests,
        "seconds": seconds,
        "cpu_s": cpu,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "longest_stall_ms": stall.longest * 1000,
        "failed": failed,
    }


async def run(sizes: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """Each contender's storm of each size, ``rounds`` times in alternation; the median round."""
    missing = missing_peers()
    found = contenders(missing)
    rows = []
    with ServerProcess() as server:
        server.register_client(CLIENT_ID, CLIENT_SECRET)
        for requests in sizes:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in found}
            for _ in range(rounds):
                for name, (factory, limit) in found.items():
                    async with factory(server.base) as send:
                        await send()  # the token, and the first connection, before the clock
                        measured = bounded(send) if limit else send
                        runs[name].append(await storm(measured, requests))
            floor = runs["static header"]
            for name, measured_runs in runs.items():
                # Ratios to the static header of the same round, then the median round.
                for one, static in zip(measured_runs, floor, strict=True):
                    one["time_ratio"] = one["seconds"] / static["seconds"]
                    one["stall_ratio"] = one["longest_stall_ms"] / max(
                        static["longest_stall_ms"], 1e-3
                    )
                middle = sorted(measured_runs, key=lambda run: run["seconds"])[rounds // 2]
                ratios = {
                    key: statistics.median(run[key] for run in measured_runs)
                    for key in ("time_ratio", "stall_ratio")
                }
                rows.append({"contender": name, **middle, **ratios})
    return {"sizes": list(sizes), "rounds": rounds, "pool": POOL, "left_out": missing, "rows": rows}


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    print_table(
        f"N concurrent requests on one AsyncClient (pool of {results['pool']}), "
        f"median of {results['rounds']} rounds",
        results["rows"],
        ["contender", "requests", "seconds", "time_ratio", "cpu_s", "p50_ms", "p99_ms",
         "longest_stall_ms", "stall_ratio", "failed"],
    )  # fmt: skip
    if results["left_out"]:
        print(f"\n{left_out_note(results['left_out'])}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--quick] [--requests N ...] [--rounds R] [--json PATH]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--requests", type=int, nargs="+", default=[1000, 3000], help="storm sizes")
    parser.add_argument("--rounds", type=int, default=3, help="storms per contender and size")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    sizes, rounds = ((150,), 1) if args.quick else (tuple(args.requests), args.rounds)
    results = anyio.run(run, sizes, rounds)
    report(results)
    if args.json:
        write_json(args.json, "storm", results)


if __name__ == "__main__":
    main()
