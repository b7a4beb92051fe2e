"""Expiry in flight: API 401s for tokens that expired while their request queued, and the peers.

Two scenarios against the testing server on loopback (in a child
process), whose API answers 401 to a token past its ``exp`` (no leeway):

- ``short tokens``: tokens living 2 s; 200 tasks send requests in a loop
  for 6 s through one ``httpx.AsyncClient`` with 100 connections, so
  requests queue in the pool and in the (CPU-bound) server; at a buffer
  of 0 s, 0.5 s and the default (Authlib's ``leeway`` and httpx-auth's
  ``early_expiry`` play the part of the buffer; httpx-auth reads 0 as its
  default of 30 s, so it gets 1 ms);
- ``burst``: tokens living 60 s; 10 tasks send requests steadily, and 3 s
  before the first token expires a burst of 3 000 more requests arrives
  at once and queues for seconds; the run ends 3 s after the expiry.

tokensources runs with its defaults (``TokenAuth``'s automatic admission,
``max_in_flight="auto"``), with admission off (``max_in_flight=None``),
and with fixed bounds at the pool's size and at 10. Reported per
contender and setting: the API's 401s (counted by a response hook, which
sees each 401 before any auth resends it), requests that finally failed,
successful requests, token requests against the ideal (one per lifetime
begun), and the learned margin for tokensources. Goal: no 401 caused by
expiry, token requests at most ideal + 1, and no fewer successful
requests than the best peer.

One full run (2026-12-02, 2 CPUs shared with other work, CPython 3.11),
``short tokens``, defaults: 0 API 401s at every buffer, where admission
off made about 250 at each; see the benchmarks page for the table.

Run: ``python -m benchmarks expiry [--quick] [--scenarios short,burst] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import httpx

from benchmarks._common import ServerProcess, print_table, write_json
from benchmarks._extras import left_out_note, missing_peers
from tokensources import ClientCredentials, TokenAuth, buffer, reuse

CLIENT_ID = "expiry-client"
CLIENT_SECRET = "expiry-secret"  # the testing server's own client; not a real secret
CONNECTIONS = 100
# A setting of None is each library's default.
BUFFERS: tuple[float | None, ...] = (0.0, 0.5, None)
# TokenAuth(max_in_flight=...) rows besides the default ("auto"): admission off, a
# fixed bound at the pool's size, and a tighter one.
BOUNDS: tuple[int | None, ...] = (None, CONNECTIONS, 10)

Send = Callable[[], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Plan:
    """The size of a scenario."""

    lifetime: float
    tasks: int
    seconds: float
    burst: int = 0  # requests arriving at once, 3 s before the first expiry


SHORT = Plan(lifetime=2.0, tasks=200, seconds=6.0)
BURST = Plan(lifetime=60.0, tasks=10, seconds=63.0, burst=3000)
QUICK_SHORT = Plan(lifetime=1.0, tasks=20, seconds=1.5)
QUICK_BURST = Plan(lifetime=3.0, tasks=5, seconds=3.5, burst=100)


class Counter:
    """A response hook counting the API's 401s, resent or not."""

    def __init__(self) -> None:
        self.unauthorized = 0

    async def __call__(self, response: httpx.Response) -> None:
        self.unauthorized += response.status_code == 401


def _client(counter: Counter, **kwargs: Any) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONNECTIONS)
    return httpx.AsyncClient(limits=limits, event_hooks={"response": [counter]}, **kwargs)


@contextlib.asynccontextmanager
async def _tokensources(
    base: str,
    setting: float | None,
    counter: Counter,
    report: dict[str, Any],
    max_in_flight: int | Literal["auto"] | None = "auto",
) -> AsyncIterator[Send]:
    inner = ClientCredentials(f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET)
    source = reuse(buffer(inner, setting))
    auth = TokenAuth(source, max_in_flight=max_in_flight)
    async with source, _client(counter, auth=auth) as client:
        yield lambda: client.get(f"{base}/api/private")
        report["margin_s"] = source.learned_margin


@contextlib.asynccontextmanager
async def _authlib(
    base: str, setting: float | None, counter: Counter, report: dict[str, Any]
) -> AsyncIterator[Send]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
    options = {} if setting is None else {"leeway": setting}
    limits = httpx.Limits(max_connections=CONNECTIONS)
    client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=f"{base}/oauth/token",
        grant_type="client_credentials",
        limits=limits,
        event_hooks={"response": [counter]},
        **options,
    )
    async with client:
        await client.fetch_token()  # Authlib's documented first step
        yield lambda: client.get(f"{base}/api/private")


@contextlib.asynccontextmanager
async def _httpx_auth(
    base: str, setting: float | None, counter: Counter, report: dict[str, Any]
) -> AsyncIterator[Send]:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()
    # httpx-auth takes early_expiry=0 for "unset" (30 s): the nearest to zero it allows.
    options = {} if setting is None else {"early_expiry": max(setting, 0.001)}
    auth = httpx_auth.OAuth2ClientCredentials(
        f"{base}/oauth/token", CLIENT_ID, CLIENT_SECRET, **options
    )
    async with _client(counter, auth=auth) as client:
        yield lambda: client.get(f"{base}/api/private")


Factory = Callable[
    [str, "float | None", Counter, dict[str, Any]], contextlib.AbstractAsyncContextManager[Send]
]


def contenders(missing: list[str]) -> dict[str, Factory]:
    """Name → factory, for every contender that is installed."""
    found: dict[str, Factory] = {"tokensources": _tokensources}
    for bound in BOUNDS:
        found[f"tokensources, max_in_flight={bound}"] = functools.partial(
            _tokensources, max_in_flight=bound
        )
    if "authlib" not in missing:
        found["authlib"] = _authlib
    if "httpx-auth" not in missing:
        found["httpx-auth"] = _httpx_auth
    return found


async def workload(send: Send, plan: Plan) -> dict[str, int]:
    """``plan.tasks`` loops of requests for ``plan.seconds``, plus the burst: outcomes counted."""
    ok = failed = 0
    deadline = time.monotonic() + plan.seconds

    async def once() -> None:
        nonlocal ok, failed
        try:
            response = await send()  # awaited first: ``ok +=`` must not span an await
        except Exception:
            failed += 1
            return
        if response.status_code == 200:
            ok += 1
        else:
            failed += 1

    async def loop() -> None:
        while time.monotonic() < deadline:
            await once()

    async def burst() -> None:
        await anyio.sleep(max(plan.lifetime - 3.0, 0.0))
        async with anyio.create_task_group() as tg:
            for _ in range(plan.burst):
                tg.start_soon(once)

    with anyio.fail_after(plan.seconds + 120):  # bounded, whatever the contender does
        async with anyio.create_task_group() as tg:
            for _ in range(plan.tasks):
                tg.start_soon(loop)
            if plan.burst:
                tg.start_soon(burst)
    return {"ok": ok, "failed": failed}


async def scenario(
    name: str, plan: Plan, settings: tuple[float | None, ...]
) -> list[dict[str, Any]]:
    """Every contender at every setting on one server minting ``plan.lifetime`` tokens."""
    rows = []
    with ServerProcess(token_lifetime=plan.lifetime) as server:
        server.register_client(CLIENT_ID, CLIENT_SECRET)
        for contender, factory in contenders(missing_peers()).items():
            for setting in settings:
                counter = Counter()
                report: dict[str, Any] = {}
                before = server.token_requests()
                started = time.monotonic()
                async with factory(server.base, setting, counter, report) as send:
                    outcome = await workload(send, plan)
                elapsed = time.monotonic() - started
                rows.append(
                    {
                        "scenario": name,
                        "contender": contender,
                        "buffer": "default" if setting is None else f"{setting:g} s",
                        "api_401s": counter.unauthorized,
                        "failed": outcome["failed"],
                        "ok": outcome["ok"],
                        "token_requests": server.token_requests() - before,
                        "ideal": math.ceil(elapsed / plan.lifetime),
                        "margin_s": report.get("margin_s", ""),
                    }
                )
    return rows


async def run(quick: bool, which: tuple[str, ...] = ("short", "burst")) -> dict[str, Any]:
    """The scenarios chosen; the burst one at the default setting and at 0."""
    short, burst = (QUICK_SHORT, QUICK_BURST) if quick else (SHORT, BURST)
    rows = []
    if "short" in which:
        rows += await scenario("short tokens", short, (None,) if quick else BUFFERS)
    if "burst" in which:
        rows += await scenario("burst", burst, (None,) if quick else (0.0, None))
    return {
        "connections": CONNECTIONS,
        "plans": {"short tokens": vars(short), "burst": vars(burst)},
        "left_out": missing_peers(),
        "rows": rows,
    }


def report(results: dict[str, Any]) -> None:
    """Print the table."""
    print_table(
        f"Expiry in flight: one AsyncClient, {results['connections']} connections",
        results["rows"],
        ["scenario", "contender", "buffer", "api_401s", "failed", "ok", "token_requests",
         "ideal", "margin_s"],
    )  # fmt: skip
    if results["left_out"]:
        print(f"\n{left_out_note(results['left_out'])}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--quick] [--json PATH]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--scenarios", default="short,burst", help="comma-separated: short, burst (default both)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    which = tuple(args.scenarios.split(","))
    results = anyio.run(run, args.quick, which)
    report(results)
    if args.json:
        write_json(args.json, "expiry", results)


if __name__ == "__main__":
    main()
