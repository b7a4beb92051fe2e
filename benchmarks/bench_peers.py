"""tokensources and its peers side by side: token requests under storms, latency across a refresh.

Contenders, each making authenticated GETs to an API a couple of
milliseconds away (in-process), with tokens from the testing server over
loopback HTTP (it runs in a child process, as an identity provider would be
elsewhere, so it does not compete with the clients for the interpreter lock):

- ``tokensources``: ``TokenAuth(reuse(...))`` (with ``buffer()`` across a refresh);
- ``naive``: the cache everyone writes by hand —
  ``if token is None or expired: token = await fetch()``;
- ``authlib``: ``AsyncOAuth2Client`` (``fetch_token()`` once at start-up, as
  documented, then its own refresh under a lock), when installed;
- ``httpx-auth``: ``OAuth2ClientCredentials`` on an ``AsyncClient``, when installed.

Scenarios:

1. *storms*: N concurrent callers on a cold start, then N more right after
   the token expired. Reports token requests seen by the server per storm.
2. *refresh*: W workers send requests back to back for a while that spans
   one early refresh, with a slow token endpoint. Reports latency
   percentiles, and for the plot a series binned by start time (requests,
   median, 99th percentile and slowest per 50 ms), not every request.

A peer that is not installed is left out, and the run says which and how
to install it (``pip install -e ".[bench]"`` brings both).

Run: ``python -m benchmarks peers [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from benchmarks._common import ServerProcess, percentile, print_table, write_json
from benchmarks._extras import left_out_note, missing_peers
from tokensources import ClientCredentials, TokenAuth
from tokensources.wrappers import buffer, reuse

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"  # the testing server's own client; not a real secret

API = "https://api.example/private"
API_LATENCY = 0.002
BIN_SECONDS = 0.05  # the refresh series' resolution: fine enough to show a 300 ms refresh
SERIES_COLUMNS = ("start_s", "requests", "p50_ms", "p99_ms", "max_ms")
Send = Callable[[], Awaitable[httpx.Response]]
Factory = Callable[["Setting"], contextlib.AbstractAsyncContextManager[Send]]


@dataclass(frozen=True)
class Setting:
    """Where the contenders talk to and how early they refresh."""

    base: str
    early: float  # seconds before expiry a refresh starts (leeway, early_expiry, buffer)

    @property
    def token_url(self) -> str:
        """The testing server's token endpoint."""
        return self.base + "/oauth/token"

    api = API

    def mounts(self) -> dict[str, httpx.AsyncBaseTransport]:
        """The API answers in-process after ``API_LATENCY``; the token endpoint is real HTTP."""
        return {
            "all://api.example": httpx.MockTransport(_api),
            self.base: httpx.AsyncHTTPTransport(),
        }


async def _api(request: httpx.Request) -> httpx.Response:
    """An API a couple of milliseconds away that wants a bearer token."""
    await anyio.sleep(API_LATENCY)
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return httpx.Response(401)
    return httpx.Response(200, json={"ok": True})


@contextlib.asynccontextmanager
async def _tokensources(setting: Setting) -> AsyncIterator[Send]:
    async with httpx.AsyncClient() as token_http:  # made before the clock starts, as the peers'
        inner = ClientCredentials(setting.token_url, CLIENT_ID, CLIENT_SECRET, http=token_http)
        source = reuse(buffer(inner, seconds=setting.early, jitter=0), skew=0)
        auth = TokenAuth(source)
        async with httpx.AsyncClient(auth=auth, mounts=setting.mounts()) as client:
            yield lambda: client.get(setting.api)


class NaiveCache:
    """The hand-written cache: correct for one caller, a stampede for many."""

    def __init__(self, http: httpx.AsyncClient, setting: Setting) -> None:
        self._http = http
        self._setting = setting
        self._token: str | None = None
        self._expires_at = 0.0

    async def header(self) -> str:
        """``Bearer <token>``, fetching a token when there is none or it is about to expire."""
        if self._token is None or time.time() >= self._expires_at - self._setting.early:
            sent = time.time()
            response = await self._http.post(
                self._setting.token_url,
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            body = response.raise_for_status().json()
            self._token, self._expires_at = body["access_token"], sent + body["expires_in"]
        return f"Bearer {self._token}"


@contextlib.asynccontextmanager
async def _naive(setting: Setting) -> AsyncIterator[Send]:
    async with httpx.AsyncClient(mounts=setting.mounts()) as client:
        cache = NaiveCache(client, setting)

        async def send() -> httpx.Response:
            return await client.get(setting.api, headers={"Authorization": await cache.header()})

        yield send


@contextlib.asynccontextmanager
async def _authlib(setting: Setting) -> AsyncIterator[Send]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
    client = AsyncOAuth2Client(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint=setting.token_url,
        grant_type="client_credentials",
        leeway=setting.early,
        mounts=setting.mounts(),
    )
    async with client:
        await client.fetch_token()  # Authlib needs the first token fetched explicitly
        yield lambda: client.get(setting.api)


@contextlib.asynccontextmanager
async def _httpx_auth(setting: Setting) -> AsyncIterator[Send]:
    import httpx_auth

    httpx_auth.OAuth2.token_cache.clear()  # process-wide: forget the previous run's token
    with httpx.Client() as token_client:
        auth = httpx_auth.OAuth2ClientCredentials(
            setting.token_url,
            CLIENT_ID,
            CLIENT_SECRET,
            early_expiry=setting.early,
            client=token_client,
        )
        async with httpx.AsyncClient(auth=auth, mounts=setting.mounts()) as client:
            yield lambda: client.get(setting.api)


def contenders() -> dict[str, Factory]:
    """The contenders available in this environment, tokensources first (see ``missing_peers``)."""
    found: dict[str, Factory] = {"tokensources": _tokensources, "naive": _naive}
    with contextlib.suppress(ImportError):
        # Authlib turns its own deprecation warnings on when imported; turn them off again.
        from authlib.deprecate import AuthlibDeprecationWarning  # type: ignore[import-untyped]

        warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
        import authlib.integrations.httpx_client  # type: ignore[import-untyped]  # noqa: F401

        found["authlib"] = _authlib
    with contextlib.suppress(ImportError):
        import httpx_auth  # noqa: F401

        found["httpx-auth"] = _httpx_auth
    return found


async def _storm(send: Send, callers: int) -> tuple[list[float], int]:
    """``callers`` concurrent requests; their latencies and how many failed."""
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            response = await send()
            failures += response.status_code != 200
        except Exception:
            failures += 1
        latencies.append(time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        for _ in range(callers):
            tg.start_soon(one)
    return latencies, failures


@dataclass(frozen=True)
class Plan:
    """How big each scenario is."""

    callers: tuple[int, ...]
    storm_lifetime: float
    storm_latency: float
    workers: int
    duration: float
    refresh_lifetime: float
    refresh_early: float
    refresh_latency: float


# Lifetimes are whole seconds of at least two: peers keep expiry in whole seconds.
FULL = Plan((1, 10, 100, 200), 3.0, 0.05, 20, 3.0, 3.0, 1.5, 0.3)
QUICK = Plan((10,), 2.0, 0.02, 4, 1.2, 2.0, 1.0, 0.1)


async def storms(
    server: ServerProcess, found: dict[str, Factory], plan: Plan
) -> list[dict[str, Any]]:
    """Token requests on a cold start and at expiry, for each number of concurrent callers.

    For each N, every contender gets its cold storm, then one shared wait
    lets all their tokens expire, then every contender gets its expiry storm.
    """
    server.register_client(CLIENT_ID, CLIENT_SECRET, token_lifetime=plan.storm_lifetime)
    setting = Setting(server.base, early=plan.storm_lifetime / 10)
    rows: list[dict[str, Any]] = []
    for callers in plan.callers:
        async with contextlib.AsyncExitStack() as stack:
            sends: dict[str, Send] = {}
            cold: dict[str, tuple[int, list[float], int]] = {}
            for name, factory in found.items():
                before = server.token_requests()
                sends[name] = await stack.enter_async_context(factory(setting))
                latencies, failed = await _storm(sends[name], callers)
                cold[name] = (server.token_requests() - before, latencies, failed)
            await anyio.sleep(plan.storm_lifetime + 0.2)  # every token has now expired
            for name, send in sends.items():
                before = server.token_requests()
                latencies, failed = await _storm(send, callers)
                requests, cold_latencies, cold_failed = cold[name]
                rows.append(
                    {
                        "contender": name,
                        "callers": callers,
                        "cold_token_requests": requests,
                        "expiry_token_requests": server.token_requests() - before,
                        "cold_p99_ms": percentile(cold_latencies, 99) * 1000,
                        "expiry_p99_ms": percentile(latencies, 99) * 1000,
                        "failed": cold_failed + failed,
                    }
                )
    return rows


async def warm_up(base: str, found: dict[str, Factory]) -> None:
    """One request per contender, so one-off start-up costs land on no measured request."""
    for factory in found.values():
        async with factory(Setting(base, early=0.0)) as send:
            await send()


def binned(points: list[tuple[float, float]], width: float = BIN_SECONDS) -> list[list[Any]]:
    """(start, latency) points as one row per ``width`` seconds of start time (``SERIES_COLUMNS``).

    Each row holds the bin's start, the requests that started in it, and
    their median, 99th percentile and slowest latency in milliseconds
    (None for a bin where no request started: every worker was waiting).
    """
    if not points:
        return []
    bins: list[list[float]] = [[] for _ in range(int(max(t for t, _ in points) / width) + 1)]
    for started, latency in points:
        bins[int(started / width)].append(latency * 1000)
    rows: list[list[Any]] = []
    for index, latencies in enumerate(bins):
        summary = (
            [round(percentile(latencies, q), 3) for q in (50, 99, 100)]
            if latencies
            else [None, None, None]
        )
        rows.append([round(index * width, 3), len(latencies), *summary])
    return rows


async def across_refresh(
    server: ServerProcess, found: dict[str, Factory], plan: Plan
) -> tuple[list[dict[str, Any]], dict[str, list[list[Any]]]]:
    """Latency of back-to-back requests over a span that includes one early refresh."""
    server.register_client(CLIENT_ID, CLIENT_SECRET, token_lifetime=plan.refresh_lifetime)
    setting = Setting(server.base, early=plan.refresh_early)
    rows: list[dict[str, Any]] = []
    series: dict[str, list[list[Any]]] = {}
    for name, factory in found.items():
        server.set_latency(0.0)
        async with factory(setting) as send:
            await send()  # the first token, before the clock starts
            server.set_latency(plan.refresh_latency)
            before = server.token_requests()
            points, failed = await _steady(send, plan.workers, plan.duration)
        latencies = [latency for _, latency in points]
        series[name] = binned(points)
        rows.append(
            {
                "contender": name,
                "requests": len(points),
                "token_requests": server.token_requests() - before,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "max_ms": max(latencies, default=0.0) * 1000,
                # Requests that sat through (most of) a token request: they waited for the refresh.
                "waited": sum(latency >= plan.refresh_latency / 2 for latency in latencies),
                "failed": failed,
            }
        )
    server.set_latency(0.0)
    return rows, series


async def _steady(
    send: Send, workers: int, duration: float
) -> tuple[list[tuple[float, float]], int]:
    points: list[tuple[float, float]] = []
    failed = 0
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal failed
        while (began := time.perf_counter()) - start < duration:
            try:
                response = await send()  # awaited first: ``failed +=`` must not span an await
                failed += response.status_code != 200
            except Exception:
                failed += 1
            points.append((began - start, time.perf_counter() - began))

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
    return points, failed


async def run(plan: Plan) -> dict[str, Any]:
    """Both scenarios against one testing server served on loopback from a child process."""
    found = contenders()
    left_out = missing_peers()
    with ServerProcess() as server:
        server.register_client(CLIENT_ID, CLIENT_SECRET)
        await warm_up(server.base, found)
        server.set_latency(plan.storm_latency)
        storm_rows = await storms(server, found, plan)
        refresh_rows, series = await across_refresh(server, found, plan)
    return {
        "plan": plan.__dict__,
        "contenders": list(found),
        "left_out": left_out,
        "storms": storm_rows,
        "refresh": refresh_rows,
        "refresh_series": {
            "bin_seconds": BIN_SECONDS,
            "columns": list(SERIES_COLUMNS),
            "contenders": series,
        },
    }


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    plan = results["plan"]
    print_table(
        f"Token requests, N concurrent callers: cold start, then at expiry "
        f"(token endpoint latency {plan['storm_latency'] * 1000:.0f} ms)",
        results["storms"],
        ["contender", "callers", "cold_token_requests", "expiry_token_requests",
         "cold_p99_ms", "expiry_p99_ms", "failed"],
    )  # fmt: skip
    print_table(
        f"{plan['workers']} workers for {plan['duration']} s across one refresh "
        f"(token endpoint latency {plan['refresh_latency'] * 1000:.0f} ms)",
        results["refresh"],
        [
            "contender",
            "requests",
            "token_requests",
            "waited",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "failed",
        ],
    )
    if results.get("left_out"):
        print(f"\n{left_out_note(results['left_out'])}")


def main(argv: list[str] | None = None) -> None:
    """Command line: ``[--quick] [--json PATH]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    results = anyio.run(run, QUICK if args.quick else FULL)
    report(results)
    if args.json:
        write_json(args.json, "peers", results)


if __name__ == "__main__":
    main()
