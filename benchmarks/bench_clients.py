"""Per-request cost through aiohttp and requests: the token adapters against a static header.

Each client sends the same ``GET /api/private`` to the testing server on
loopback, in a child process (so that the server does not share this
process's interpreter lock). The contenders, on the same client library
and the same kind of session:

* ``static`` — the session carries a hand-set ``Authorization`` header;
* ``aiohttp`` — ``tokensources.aiohttp.TokenMiddleware`` on the session;
* ``requests`` — ``tokensources.requests.TokenAuth`` as the session's auth.

Both get the same token (fetched once, before timing). Rounds alternate
the adapter and its static baseline and the median ratio is reported, so a
noisy neighbour skews both alike.

Run: ``python -m benchmarks.bench_clients [--quick] [--json PATH]``
(or ``python -m benchmarks clients ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import ServerProcess, print_table, write_json
from tokensources import ClientCredentials, reuse
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tokensources.wrappers import Reuse

COMMAND = "python -m benchmarks.bench_clients"


def _source(token_url: str) -> Reuse:
    return reuse(ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))


def _median_ratio(times: dict[str, list[float]], name: str) -> float:
    return statistics.median(t / base for t, base in zip(times[name], times["static"], strict=True))


def bench_requests(
    base: str, token_url: str, requests_per_round: int, rounds: int
) -> dict[str, Any]:
    """Median µs per request with a static header and with TokenAuth, and their ratio."""
    import requests

    from tokensources.requests import TokenAuth

    url = f"{base}/api/private"
    with TokenAuth(_source(token_url)) as auth, requests.Session() as authed:
        authed.auth = auth
        authed.get(url, timeout=10).raise_for_status()  # the one token request
        header = authed.get(url, timeout=10).request.headers["Authorization"]
        with requests.Session() as static:
            static.headers["Authorization"] = header
            static.get(url, timeout=10).raise_for_status()  # both sessions hold a connection
            sessions: dict[str, Callable[[], object]] = {
                "static": lambda: static.get(url, timeout=10),
                "requests": lambda: authed.get(url, timeout=10),
            }
            times = _alternate(sessions, requests_per_round, rounds)
    return _summary(times, "requests")


def _alternate(
    sessions: dict[str, Callable[[], object]], requests_per_round: int, rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for index in range(rounds):
        order = list(sessions.items())
        if index % 2:
            order.reverse()
        for name, send in order:
            started = time.perf_counter()
            for _ in range(requests_per_round):
                send()
            times[name].append((time.perf_counter() - started) / requests_per_round * 1e6)
    return times


async def bench_aiohttp(
    base: str, token_url: str, requests_per_round: int, rounds: int
) -> dict[str, Any]:
    """Median µs per request with a static header and with TokenMiddleware, and their ratio."""
    import aiohttp

    from tokensources.aiohttp import TokenMiddleware

    url = f"{base}/api/private"
    source = _source(token_url)
    token = await source.token()  # the one token request
    times: dict[str, list[float]] = {"static": [], "aiohttp": []}
    with TokenMiddleware(source) as middleware:
        async with (
            aiohttp.ClientSession(headers={"Authorization": token.authorization}) as static,
            aiohttp.ClientSession(middlewares=(middleware,)) as authed,
        ):
            sessions = {"static": static, "aiohttp": authed}
            for session in sessions.values():  # each opens its connection before timing
                async with session.get(url) as response:
                    response.raise_for_status()
            for index in range(rounds):
                order = list(sessions.items())
                if index % 2:
                    order.reverse()
                for name, session in order:
                    started = time.perf_counter()
                    for _ in range(requests_per_round):
                        async with session.get(url) as response:
                            await response.read()
                    times[name].append((time.perf_counter() - started) / requests_per_round * 1e6)
    await source.aclose()
    return _summary(times, "aiohttp")


def _summary(times: dict[str, list[float]], name: str) -> dict[str, Any]:
    return {
        "us_per_request": {key: statistics.median(values) for key, values in times.items()},
        "ratio": _median_ratio(times, name),
    }


def run(quick: bool) -> dict[str, Any]:
    """Both clients against one server."""
    requests_per_round, rounds = (50, 3) if quick else (500, 11)
    results: dict[str, Any] = {"command": COMMAND + (" --quick" if quick else "")}
    results["requests_per_round"] = requests_per_round
    results["rounds"] = rounds
    with ServerProcess() as server:
        results["requests"] = bench_requests(
            server.base, server.token_url, requests_per_round, rounds
        )
        results["aiohttp"] = asyncio.run(
            bench_aiohttp(server.base, server.token_url, requests_per_round, rounds)
        )
        results["token_requests"] = server.token_requests()
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    rows = []
    for client in ("aiohttp", "requests"):
        measured = results[client]
        rows.append(
            {
                "client": client,
                "static header µs": measured["us_per_request"]["static"],
                "adapter µs": measured["us_per_request"][client],
                "ratio": measured["ratio"],
            }
        )
    print_table(
        f"Per request, GET /api/private on loopback ({results['token_requests']} token "
        "requests in all: one per client)",
        rows,
        ["client", "static header µs", "adapter µs", "ratio"],
    )


def main() -> int:
    """Run, print, and write JSON if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = run(args.quick)
    report(results)
    if args.json:
        write_json(args.json, "clients", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
