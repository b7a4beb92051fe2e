"""Per-request cost of a DPoP proof against a plain bearer header, and of each proof algorithm.

Every client sends the same GET to an ``httpx.MockTransport`` API (no
network), so what differs is the header work: a bearer client's auth sets
``Authorization: Bearer`` on each request; a DPoP client's auth sets
``Authorization: DPoP`` and signs a new proof (``DPoPKey.proof`` with
``ath`` and a nonce) for every request, as RFC 9449 asks. A client with a
fixed default header (no auth at all) is shown for scale. Rounds alternate and the median
round is reported, as a ratio measured in the same run. A second table gives
the cost of one proof per algorithm, and of checking one
(``tokensources.verify``'s proof checker).

Run: ``python -m benchmarks.bench_dpop [--quick] [--requests N] [--rounds R] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio
import httpx

from tokensources import DPoPKey
from tokensources.sources._dpop_key import DPOP_ALGORITHMS
from tokensources.verify._dpop import DPoPProofChecker, DPoPReplays

API = "https://api.example/private"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
NONCE = "bench-nonce-1"
# The goal for the per-request cost of DPoP (ES256) against bearer.
TARGET_RATIO = 1.5

Send = Callable[[], Awaitable[httpx.Response]]
BEARER = "bearer header set per request"
DPOP = "DPoP proof per request (ES256)"


class _BearerPerRequest(httpx.Auth):
    """What a bearer client's auth does per request: set the header."""

    def __init__(self) -> None:
        self._authorization = f"Bearer {TOKEN}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._authorization
        yield request


class _ProofPerRequest(httpx.Auth):
    """What a DPoP client does per request: the DPoP scheme and a fresh proof with ``ath``."""

    def __init__(self, key: DPoPKey) -> None:
        self._key = key
        self._authorization = f"DPoP {TOKEN}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._authorization
        request.headers["DPoP"] = self._key.proof(
            request.method, str(request.url), access_token=TOKEN, nonce=NONCE
        )
        yield request


def _transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))


async def _round(send: Send, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        response = await send()
        assert response.status_code == 200
    return (time.perf_counter() - start) / requests


async def run_requests(requests: int, rounds: int) -> dict[str, Any]:
    """Bearer against DPoP (ES256) per request; medians of alternating rounds, and the ratio."""
    static = httpx.AsyncClient(transport=_transport(), headers={"Authorization": f"Bearer {TOKEN}"})
    bearer = httpx.AsyncClient(transport=_transport(), auth=_BearerPerRequest())
    dpop = httpx.AsyncClient(transport=_transport(), auth=_ProofPerRequest(DPoPKey.generate()))
    contenders: dict[str, Send] = {
        "static bearer header": lambda: static.get(API),
        BEARER: lambda: bearer.get(API),
        DPOP: lambda: dpop.get(API),
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for send in contenders.values():
        await _round(send, min(requests, 300))  # warm-up
    for _ in range(rounds):
        for name, send in contenders.items():
            samples[name].append(await _round(send, requests))
    for client in (static, bearer, dpop):
        await client.aclose()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians[BEARER]
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "per_request_us": {name: value * 1e6 for name, value in medians.items()},
        "ratio_vs_bearer": {name: value / baseline for name, value in medians.items()},
        "target_ratio": TARGET_RATIO,
    }


def run_proofs(count: int) -> dict[str, dict[str, float]]:
    """Microseconds to make one proof, and to check one, per algorithm."""
    results: dict[str, dict[str, float]] = {}
    for algorithm in DPOP_ALGORITHMS:
        key = DPoPKey.generate(algorithm)
        start = time.perf_counter()
        proofs = [key.proof("GET", API, access_token=TOKEN, nonce=NONCE) for _ in range(count)]
        made = (time.perf_counter() - start) / count
        checker = DPoPProofChecker(replays=DPoPReplays(max_entries=count + 1))
        start = time.perf_counter()
        for proof in proofs:
            checker.check(proof, "GET", API, access_token=TOKEN, nonces=(NONCE,))
        checked = (time.perf_counter() - start) / count
        results[algorithm] = {"make_us": made * 1e6, "check_us": checked * 1e6}
    return results


def main() -> None:
    """Parse arguments, run both measurements, print tables (and write JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (seconds)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--proofs", type=int, default=500, help="proofs per algorithm")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds, args.proofs = 300, 3, 50
    results = anyio.run(run_requests, args.requests, args.rounds)
    results["proofs"] = run_proofs(args.proofs)
    print(f"{'client':34} {'µs/request':>11} {'ratio':>7}")
    for name, micros in results["per_request_us"].items():
        print(f"{name:34} {micros:11.1f} {results['ratio_vs_bearer'][name]:7.3f}")
    ratio = results["ratio_vs_bearer"][DPOP]
    verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"DPoP target ratio <= {TARGET_RATIO}: {verdict}")
    print(f"\n{'algorithm':10} {'µs to make':>11} {'µs to check':>12}")
    for algorithm, cost in results["proofs"].items():
        print(f"{algorithm:10} {cost['make_us']:11.1f} {cost['check_us']:12.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
