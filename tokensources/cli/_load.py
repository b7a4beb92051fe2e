"""The demo's load: many concurrent clients calling one API through ``TokenAuth``."""

from __future__ import annotations

import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import httpx

from .._auth import TokenAuth
from .._source import TokenSource

__all__ = ["LoadResult", "TokenRequestCounter", "run_load"]


@dataclass(slots=True)
class LoadResult:
    """What one load run did.

    Attributes:
        tasks: concurrent client tasks.
        requests_per_task: API requests each task sent, one after another.
        succeeded: API answers with status 200.
        failures: failed requests by reason (``"HTTP 401"``, ``"TokenRequestError"``...).
        token_requests: HTTP requests the clients sent to the token endpoint.
        latencies: seconds per API request, token wait included, in order of completion.
        duration: seconds from the start of the run to the last answer.
        first_sent_at: when the first API request was sent (epoch seconds;
            comparable across the processes of a fleet), None if none was.
        last_sent_at: when the last API request was sent, None if none was.
    """

    tasks: int
    requests_per_task: int
    succeeded: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    token_requests: int = 0
    latencies: list[float] = field(default_factory=list)
    duration: float = 0.0
    first_sent_at: float | None = None
    last_sent_at: float | None = None

    @property
    def span(self) -> float:
        """Seconds from the first request sent to the last: the time tokens were needed."""
        if self.first_sent_at is None or self.last_sent_at is None:
            return 0.0
        return self.last_sent_at - self.first_sent_at

    def note_sent(self, at: float) -> None:
        """Widen the send span to include the instant ``at`` (epoch seconds)."""
        if self.first_sent_at is None or at < self.first_sent_at:
            self.first_sent_at = at
        if self.last_sent_at is None or at > self.last_sent_at:
            self.last_sent_at = at

    @property
    def sent(self) -> int:
        """API requests sent (answered or failed)."""
        return self.succeeded + self.failed

    @property
    def failed(self) -> int:
        """API requests that did not get a 200."""
        return sum(self.failures.values())


class TokenRequestCounter:
    """An ``httpx`` request hook that counts the requests of the token client."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        """Count ``request``."""
        self.count += 1


async def run_load(
    api_url: str,
    source: TokenSource,
    counter: TokenRequestCounter,
    *,
    tasks: int,
    requests: int,
    progress: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    """Run ``tasks`` concurrent clients, each sending ``requests`` GETs to ``api_url``.

    Every client has its own ``httpx.AsyncClient`` (one keep-alive
    connection) and every one authenticates through ``TokenAuth(source)``:
    one token source for all of them, as in a real service. ``progress`` is
    called about four times a second while the run lasts.

    Concurrency and cancellation: runs its tasks in one task group; cancelling
    the caller stops them all and closes their connections.
    """
    result = LoadResult(tasks=tasks, requests_per_task=requests)
    auth = TokenAuth(source)
    # One TLS context for all clients: building one per client costs
    # milliseconds each and the API is plain http on loopback anyway.
    tls = ssl.create_default_context()
    # Parsed once: httpx would otherwise parse the same string for every request.
    url = httpx.URL(api_url)
    started = time.perf_counter()
    start_count = counter.count
    try:
        async with anyio.create_task_group() as tg:
            if progress is not None:
                tg.start_soon(_report_progress, result, progress, counter, start_count)
            async with anyio.create_task_group() as clients:
                for _ in range(tasks):
                    clients.start_soon(_client, url, auth, tls, requests, result)
            tg.cancel_scope.cancel()
    finally:
        auth.close()
    result.duration = time.perf_counter() - started
    result.token_requests = counter.count - start_count
    return result


async def _client(
    url: httpx.URL, auth: TokenAuth, tls: ssl.SSLContext, requests: int, result: LoadResult
) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        auth=auth, limits=limits, verify=tls, trust_env=False, timeout=30.0
    ) as client:
        for _ in range(requests):
            # The wall clock for the span (comparable across a fleet's
            # processes), the monotonic one for the latency.
            result.note_sent(time.time())
            sent = time.perf_counter()
            try:
                response = await client.get(url)
            except Exception as exc:  # every failure is counted, by kind
                result.failures[type(exc).__name__] += 1
                continue
            result.latencies.append(time.perf_counter() - sent)
            if response.status_code == 200:
                result.succeeded += 1
            else:
                result.failures[f"HTTP {response.status_code}"] += 1


async def _report_progress(
    result: LoadResult,
    progress: Callable[[LoadResult], None],
    counter: TokenRequestCounter,
    start_count: int,
) -> None:
    started = time.perf_counter()
    while True:
        await anyio.sleep(0.25)
        result.duration = time.perf_counter() - started
        result.token_requests = counter.count - start_count
        progress(result)
