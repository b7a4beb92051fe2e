"""Token verification: warm throughput, cold-start storms and forged-kid floods.

Three measurements, in one run, on asyncio and trio, against the testing
server served on loopback (real HTTP, so concurrent callers really overlap
while the JWKS is being fetched):

* warm — ``await verifier.verify(token)`` per second with the keys cached,
  next to ``jwt.decode`` with the key in hand (the signature check alone),
  so the overhead of the library is the ratio of the two.
* the verified-token cache — the cost of verifying a token seen before and
  of a first verification (a token never seen, keys in hand), each as a
  ratio to ``jwt.decode`` with the key in hand on the same tokens, measured
  in the same run (goals: at most 1/20 and at most 1.25×), and the memory a
  remembered result takes (traced allocations per entry).
* cold storms — N concurrent verifications on a fresh verifier (discovery
  and JWKS not fetched yet). Reported: JWKS fetches (target: 1), discovery
  requests (target: 1), wall time.
* forged kids — N tokens with random unknown ``kid`` on a warm verifier
  past its cool-down. Reported: extra JWKS fetches (target: at most 1).

Run: ``python -m benchmarks.bench_verify [--quick] [--json PATH]``
(or ``python -m benchmarks verify ...``). Results also go to
``benchmarks/results/verify.json``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
import tracemalloc
from typing import Any

import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from benchmarks._common import RESULTS_DIR, print_table, write_json
from tokensources import InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import JWTVerifier

BACKENDS = ("asyncio", "trio")


class Clock:
    """A wall clock the benchmark can move forward (to pass the kid cool-down)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def warm(server: AuthorizationServer, url: str, rounds: int) -> dict[str, Any]:
    """Verifications per second with cached keys, and jwt.decode alone.

    The two alternate in short rounds and the medians are reported, so a
    noisy neighbour slows both alike.
    """
    token = server.issue_token()
    key = RSAAlgorithm.from_jwk(json.dumps(server.jwks()["keys"][0]))
    ours: list[float] = []
    bare: list[float] = []
    async with JWTVerifier(url, server.audience) as verifier:
        await verifier.verify(token)
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(200):
                await verifier.verify(token)
            ours.append(200 / (time.perf_counter() - started))
            started = time.perf_counter()
            for _ in range(200):
                jwt.decode(token, key, algorithms=["RS256"], audience=server.audience)  # type: ignore[arg-type]
            bare.append(200 / (time.perf_counter() - started))
    ratios = [b / o for o, b in zip(ours, bare, strict=True)]
    return {
        "verify_per_s": statistics.median(ours),
        "jwt_decode_per_s": statistics.median(bare),
        "overhead_ratio": statistics.median(ratios),
    }


async def seen_before(server: AuthorizationServer, rounds: int, batch: int) -> dict[str, Any]:
    """Seen-before and first verifications against ``jwt.decode``, in alternating rounds.

    Every round issues ``batch`` fresh tokens (distinct ``jti``): a new
    verifier meets each once (a first verification, the result remembered),
    then once more (seen before); ``jwt.decode`` checks the same tokens with
    the key in hand. The verifier is given the key set (``jwks=``), so no
    I/O is measured: only what the library adds to the signature check.
    """
    key = RSAAlgorithm.from_jwk(json.dumps(server.jwks()["keys"][0]))
    audience = server.audience
    first: list[float] = []
    again: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        tokens = [server.issue_token() for _ in range(batch)]
        verifier = JWTVerifier(server.issuer, audience, jwks=server.jwks())
        started = time.perf_counter()
        for token in tokens:
            jwt.decode(token, key, algorithms=["RS256"], audience=audience)  # type: ignore[arg-type]
        bare.append((time.perf_counter() - started) / batch)
        started = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        first.append((time.perf_counter() - started) / batch)
        started = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        again.append((time.perf_counter() - started) / batch)
        await verifier.aclose()
    return {
        "jwt_decode_us": statistics.median(bare) * 1e6,
        "first_us": statistics.median(first) * 1e6,
        "seen_before_us": statistics.median(again) * 1e6,
        "first_ratio": statistics.median(f / b for f, b in zip(first, bare, strict=True)),
        "seen_before_ratio": statistics.median(a / b for a, b in zip(again, bare, strict=True)),
        "bytes_per_entry": await _bytes_per_entry(server, batch),
    }


async def _bytes_per_entry(server: AuthorizationServer, count: int) -> float:
    """Traced memory a verifier holds per remembered token, over ``count`` distinct tokens."""
    tokens = [server.issue_token() for _ in range(count)]
    verifier = JWTVerifier(server.issuer, server.audience, jwks=server.jwks())
    await verifier.verify(tokens[0])  # key set parsed before measuring
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens[1:]:
            await verifier.verify(token)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    await verifier.aclose()
    return held / (count - 1)


async def storm(callers: int) -> dict[str, Any]:
    """``callers`` concurrent verifications on a cold verifier."""
    server = AuthorizationServer()
    async with server.serve() as url:
        token = server.issue_token()
        failures = 0
        async with JWTVerifier(url, server.audience) as verifier:

            async def one() -> None:
                nonlocal failures
                try:
                    await verifier.verify(token)
                except InvalidTokenError:
                    failures += 1

            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(callers):
                    tg.start_soon(one)
            wall = time.perf_counter() - started
    return {
        "callers": callers,
        "jwks_fetches": server.counters.jwks_requests,
        "discovery_requests": server.counters.discovery_requests,
        "refused": failures,
        "wall_s": wall,
    }


async def forged(count: int) -> dict[str, Any]:
    """``count`` tokens with random unknown kids (half concurrent, half one by one)."""
    server = AuthorizationServer()
    clock = Clock()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with server.serve() as url:
        good = server.issue_token()
        payload = jwt.decode(good, options={"verify_signature": False})
        tokens = [
            jwt.encode(payload, key, algorithm="RS256", headers={"kid": secrets.token_hex(8)})
            for _ in range(count)
        ]
        async with JWTVerifier(url, server.audience, clock=clock) as verifier:
            await verifier.verify(good)
            before = server.counters.jwks_requests
            clock.offset += 61  # past the cool-down since the first fetch
            refused = 0

            async def one(token: str) -> None:
                nonlocal refused
                try:
                    await verifier.verify(token)
                except InvalidTokenError:
                    refused += 1

            async with anyio.create_task_group() as tg:
                for token in tokens[: count // 2]:
                    tg.start_soon(one, token)
            for token in tokens[count // 2 :]:
                await one(token)
    return {
        "forged_tokens": count,
        "refused": refused,
        "extra_jwks_fetches": server.counters.jwks_requests - before,
    }


async def run(backend: str, quick: bool) -> dict[str, Any]:
    """Every measurement on one backend."""
    server = AuthorizationServer()
    async with server.serve() as url:
        warm_result = await warm(server, url, 5 if quick else 25)
    cache_result = await seen_before(server, 3 if quick else 15, 100 if quick else 400)
    sizes = (1, 100, 1000) if quick else (1, 100, 1000, 5000)
    storms = [await storm(n) for n in sizes]
    flood = await forged(200 if quick else 1000)
    return {
        "backend": backend,
        "warm": warm_result,
        "verified_cache": cache_result,
        "storms": storms,
        "forged": flood,
    }


def main() -> int:
    """Run the benchmark, print tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test)")
    parser.add_argument("--json", default=str(RESULTS_DIR / "verify.json"), help="output path")
    args = parser.parse_args()
    results = [anyio.run(run, backend, args.quick, backend=backend) for backend in BACKENDS]
    print_table(
        "Warm verification (keys cached)",
        [{"backend": r["backend"], **r["warm"]} for r in results],
        ["backend", "verify_per_s", "jwt_decode_per_s", "overhead_ratio"],
    )
    print_table(
        "Verified-token cache against jwt.decode (goals: seen before <= 0.05x, first <= 1.25x)",
        [{"backend": r["backend"], **r["verified_cache"]} for r in results],
        [
            "backend",
            "jwt_decode_us",
            "first_us",
            "seen_before_us",
            "first_ratio",
            "seen_before_ratio",
            "bytes_per_entry",
        ],
    )
    print_table(
        "Cold-start storms (target: 1 JWKS fetch, 1 discovery)",
        [{"backend": r["backend"], **s} for r in results for s in r["storms"]],
        ["backend", "callers", "jwks_fetches", "discovery_requests", "refused", "wall_s"],
    )
    print_table(
        "Forged kids (target: at most 1 extra fetch)",
        [{"backend": r["backend"], **r["forged"]} for r in results],
        ["backend", "forged_tokens", "refused", "extra_jwks_fetches"],
    )
    write_json(args.json, "verify", {"quick": args.quick, "backends": results})
    ok = all(
        s["jwks_fetches"] == 1 and s["refused"] == 0 for r in results for s in r["storms"]
    ) and all(r["forged"]["extra_jwks_fetches"] <= 1 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
