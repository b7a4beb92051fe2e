"""Per-request cost of TokenAuth against a hand-set static header, and against Authlib/httpx-auth.

Every client sends the same GET to an ``httpx.MockTransport`` API (no
network, so the auth layer is what differs); token requests go to the
testing server on loopback and happen once, before timing. Rounds
alternate between contenders and the median round is reported, so a noisy
neighbour skews every contender alike.

Run: ``python benchmarks/bench_httpx.py [--requests N] [--rounds R] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from tokensources import ClientCredentials, TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import reuse

API = "https://api.example/private"
TARGET_RATIO = 1.10

Send = Callable[[], Awaitable[httpx.Response]]


def _api_transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))


def _mounts(base: str) -> dict[str, httpx.AsyncBaseTransport]:
    """The API is mocked; the token endpoint is the real testing server."""
    return {"all://api.example": _api_transport(), base: httpx.AsyncHTTPTransport()}


async def _static(base: str, token: str) -> tuple[httpx.AsyncClient, Send]:
    client = httpx.AsyncClient(mounts=_mounts(base), headers={"Authorization": f"Bearer {token}"})
    return client, lambda: client.get(API)


async def _tokenauth(base: str, token_url: str) -> tuple[httpx.AsyncClient, Send]:
    source = reuse(ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    client = httpx.AsyncClient(mounts=_mounts(base), auth=TokenAuth(source))
    await client.get(API)  # the one token request
    return client, lambda: client.get(API)


async def _authlib(base: str, token_url: str) -> tuple[httpx.AsyncClient, Send] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from authlib.integrations.httpx_client import AsyncOAuth2Client
    except ImportError:
        return None
    client = AsyncOAuth2Client(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        token_endpoint=token_url,
        grant_type="client_credentials",
        mounts=_mounts(base),
    )
    await client.fetch_token()
    return client, lambda: client.get(API)


async def _httpx_auth(base: str, token_url: str) -> tuple[httpx.AsyncClient, Send] | None:
    try:
        import httpx_auth
    except ImportError:
        return None
    auth = httpx_auth.OAuth2ClientCredentials(token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    client = httpx.AsyncClient(mounts=_mounts(base), auth=auth)
    await client.get(API)
    return client, lambda: client.get(API)


async def _round(send: Send, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        response = await send()
        assert response.status_code == 200
    return (time.perf_counter() - start) / requests


async def run(server: AuthorizationServer, base: str, requests: int, rounds: int) -> dict[str, Any]:
    """Measure every installed contender; return per-request medians and ratios.

    The testing server runs in its own thread: httpx-auth fetches tokens
    with a blocking client, which would deadlock a server on this loop.
    """
    token_url = f"{base}/oauth/token"
    builders: dict[str, Awaitable[tuple[httpx.AsyncClient, Send] | None]] = {
        "static header": _static(base, server.issue_token()),
        "TokenAuth": _tokenauth(base, token_url),
        "Authlib AsyncOAuth2Client": _authlib(base, token_url),
        "httpx-auth OAuth2ClientCredentials": _httpx_auth(base, token_url),
    }
    contenders: dict[str, tuple[httpx.AsyncClient, Send]] = {}
    for name, build in builders.items():
        built = await build
        if built is not None:
            contenders[name] = built
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _, send in contenders.values():
        await _round(send, min(requests, 500))  # warm-up
    for _ in range(rounds):
        for name, (_, send) in contenders.items():
            samples[name].append(await _round(send, requests))
    for client, _ in contenders.values():
        await client.aclose()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["static header"]
    return {
        "requests_per_round": requests,
        "rounds": rounds,
        "token_requests": server.counters.token_requests,
        "per_request_us": {name: value * 1e6 for name, value in medians.items()},
        "ratio_vs_static": {name: value / baseline for name, value in medians.items()},
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    """Parse arguments, run the benchmark, print a table (and write JSON if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        results = anyio.run(run, server, base, args.requests, args.rounds)
    print(f"{'client':38} {'µs/request':>11} {'ratio':>7}")
    for name, micros in results["per_request_us"].items():
        ratio = results["ratio_vs_static"][name]
        print(f"{name:38} {micros:11.1f} {ratio:7.3f}")
    verdict = "ok" if results["ratio_vs_static"]["TokenAuth"] <= TARGET_RATIO else "ABOVE TARGET"
    print(f"TokenAuth target ratio <= {TARGET_RATIO}: {verdict}")
    print(f"token requests (all clients together): {results['token_requests']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
