"""Workload identity: one exchange per cold cache; never an expired assertion from a rotated file.

Two measurements, counts only (no timings), on asyncio and trio, against
the testing server in-process and real files in a temporary directory:

1. **Cold storm**: N concurrent ``token()`` calls on
   ``reuse(TokenExchange(..., FileToken(path)))`` with an empty cache.
   Target: 1 exchange at the token endpoint and 1 read of the file.
2. **Rotation**: a token file rotated the kubelet's way (an atomic ``..data``
   swap at 80% of each token's lifetime) for several lifetimes, on a clock
   moved by hand, while T tasks read it through ``FileToken`` (as a client
   assertion is read for each request) and through a cached exchange bound
   to the subject. Target: no expired assertion and no expired exchanged
   token handed out, no error, and one file read per version of the file.

Run: ``python -m benchmarks.bench_workload [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import anyio

from benchmarks._common import RESULTS_DIR, machine, print_table, write_json
from tokensources import FileToken, Token, TokenExchange, reuse
from tokensources.sources._client_credentials import ClientCredentials
from tokensources.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    AuthorizationServer,
    KubernetesTokenFile,
)

BACKENDS = ("asyncio", "trio")
ISSUER = "https://idp.example.com"
LIFETIME = 600.0  # seconds a projected token lives
ROTATE_AT = 0.8  # the kubelet rewrites the file at 80% of the lifetime
STEPS_PER_LIFETIME = 20


class ManualClock:
    """Wall time that moves only when the benchmark says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _exchange(
    server: AuthorizationServer, http: Any, subject: FileToken, clock: ManualClock
) -> TokenExchange:
    client = ClientCredentials(server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)
    return TokenExchange(
        server.token_endpoint, subject, client=client, bound_to_subject=True, http=http, clock=clock
    )


async def cold_storm(callers: int) -> dict[str, Any]:
    """N concurrent callers on a cold cache: exchanges made and file reads."""
    clock = ManualClock()
    server = AuthorizationServer(issuer=ISSUER, clock=clock)
    with tempfile.TemporaryDirectory() as directory:
        volume = KubernetesTokenFile(Path(directory))
        volume.write(server.workload_issuer.mint_kubernetes(audience=ISSUER, lifetime=LIFETIME))
        subject = FileToken(volume.path, clock=clock)
        async with server.client() as http:
            cached = reuse(_exchange(server, http, subject, clock), clock=clock)
            tokens: list[Token] = []

            async def call() -> None:
                tokens.append(await cached.token())

            async with anyio.create_task_group() as tg:
                for _ in range(callers):
                    tg.start_soon(call)
    return {
        "callers": callers,
        "answered": len(tokens),
        "distinct_tokens": len({t.access_token for t in tokens}),
        "exchanges": server.counters.token_requests,
        "file_reads": subject.reads,
    }


async def rotation(tasks: int, lifetimes: int) -> dict[str, Any]:
    """T tasks reading a rotating file (directly and through a cached exchange)."""
    clock = ManualClock()
    server = AuthorizationServer(issuer=ISSUER, clock=clock)
    workload = server.workload_issuer
    counts = {"calls": 0, "expired_assertions": 0, "expired_exchanged": 0, "errors": 0}
    with tempfile.TemporaryDirectory() as directory:
        volume = KubernetesTokenFile(Path(directory))
        volume.write(workload.mint_kubernetes(audience=ISSUER, lifetime=LIFETIME))
        rotate_due = clock.now + ROTATE_AT * LIFETIME
        assertion = FileToken(volume.path, clock=clock)
        subject = FileToken(volume.path, clock=clock)
        async with server.client() as http:
            cached = reuse(_exchange(server, http, subject, clock), clock=clock)

            async def read() -> None:
                counts["calls"] += 1
                try:
                    if (await assertion.token()).expired(clock.now):
                        counts["expired_assertions"] += 1
                    if (await cached.token()).expired(clock.now):
                        counts["expired_exchanged"] += 1
                except Exception:  # counted: the target is none at all
                    counts["errors"] += 1

            for _ in range(lifetimes * STEPS_PER_LIFETIME):  # bounded: a fixed number of steps
                clock.now += LIFETIME / STEPS_PER_LIFETIME
                if clock.now >= rotate_due:
                    volume.write(workload.mint_kubernetes(audience=ISSUER, lifetime=LIFETIME))
                    rotate_due = clock.now + ROTATE_AT * LIFETIME
                async with anyio.create_task_group() as tg:
                    for _ in range(tasks):
                        tg.start_soon(read)
    return {
        "tasks": tasks,
        "lifetimes": lifetimes,
        **counts,
        "file_versions": volume.writes,
        "assertion_reads": assertion.reads,
        "exchanges": server.counters.token_requests,
    }


def run(quick: bool) -> dict[str, Any]:
    """Both measurements on both backends."""
    callers, tasks, lifetimes = (100, 20, 3) if quick else (500, 100, 6)
    results: dict[str, Any] = {"lifetime_s": LIFETIME, "rotate_at": ROTATE_AT}
    for backend in BACKENDS:
        results[backend] = {
            "cold_storm": anyio.run(cold_storm, callers, backend=backend),
            "rotation": anyio.run(rotation, tasks, lifetimes, backend=backend),
        }
    return results


def missed(results: dict[str, Any]) -> list[str]:
    """The targets not met, by backend."""
    problems = []
    for backend in BACKENDS:
        storm, turn = results[backend]["cold_storm"], results[backend]["rotation"]
        if (storm["exchanges"], storm["file_reads"], storm["distinct_tokens"]) != (1, 1, 1):
            problems.append(f"{backend}: cold storm {storm}")
        bad = turn["expired_assertions"] + turn["expired_exchanged"] + turn["errors"]
        if bad or turn["assertion_reads"] != turn["file_versions"]:
            problems.append(f"{backend}: rotation {turn}")
    return problems


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    print_table(
        "Cold storm: reuse(TokenExchange(FileToken)) (targets: 1 exchange, 1 read)",
        [{"backend": b, **results[b]["cold_storm"]} for b in BACKENDS],
        ["backend", "callers", "answered", "distinct_tokens", "exchanges", "file_reads"],
    )
    print_table(
        f"Rotating file, {LIFETIME:g} s tokens rotated at {ROTATE_AT:.0%} (targets: 0 expired)",
        [{"backend": b, **results[b]["rotation"]} for b in BACKENDS],
        [
            "backend",
            "tasks",
            "lifetimes",
            "calls",
            "expired_assertions",
            "expired_exchanged",
            "errors",
            "file_versions",
            "assertion_reads",
            "exchanges",
        ],
    )
    info = machine()
    print(f"\n{info['python']} on {info['platform']}, {info['usable_cpus']} CPUs, {info['date']}")


def main() -> int:
    """Parse arguments, run, print, write JSON; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--json", default=str(RESULTS_DIR / "workload.json"), help="results file")
    args = parser.parse_args()
    results = run(args.quick)
    report(results)
    write_json(args.json, "workload", results)
    problems = missed(results)
    if problems:
        print("targets missed:\n  " + "\n  ".join(problems))
        return 1
    print("targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
