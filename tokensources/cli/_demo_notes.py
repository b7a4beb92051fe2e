"""The notes under the demo's tables: how to read them, in sentences with the run's numbers."""

from __future__ import annotations

from collections.abc import Sequence

from ._report import RunSummary
from ._setup import usable_lifetime
from ._spawn import ServerCounts
from ._words import counted

__all__ = ["comparison_notes", "final_notes", "main_notes"]


def main_notes(summary: RunSummary, token_lifetime: float) -> list[str]:
    """The notes under the main run's table: what its ideal is, what its latency is made of."""
    result = summary.result
    usable = usable_lifetime(token_lifetime)
    return [
        f"ideal = 1 + floor({result.span:.1f} s of requests / {token_lifetime:g} s token "
        f"lifetime) = {summary.ideal}: one token to start and one for each lifetime the run "
        "spans, the fewest any cache can make; buffer() renews each token "
        f"{token_lifetime - usable:g} s before it expires, in the background, so that no "
        "request waits for a token or leaves with one about to expire, which costs up to one "
        f"token per {usable:g} s",
        "latency is per API request, the wait for a token included; with "
        f"{counted(result.tasks, 'client')} at once most of it is time spent queued behind "
        "the other requests",
    ]


def comparison_notes(pair: Sequence[RunSummary], main: RunSummary) -> list[str]:
    """The notes under the comparison: same workload, and what no reuse() would cost at scale."""
    cached, uncached = pair[0].result, pair[1].result
    scaled = round(uncached.token_requests / max(uncached.sent, 1) * main.result.sent)
    return [
        f"both columns sent the same {counted(uncached.sent, 'request')} from "
        f"{counted(uncached.tasks, 'client')}, one run after the other against the same "
        "server, so their latencies compare: without reuse() every request first waited for "
        "a token of its own",
        f"with reuse(): {counted(cached.token_requests, 'token request')}; without: "
        f"{counted(uncached.token_requests, 'token request')}; at the main run's "
        f"{counted(main.result.sent, 'request')} that would be about "
        f"{counted(scaled, 'token request')} instead of {main.result.token_requests:,}",
    ]


def final_notes(
    summaries: Sequence[RunSummary], counts: ServerCounts, client_cpu: float | None
) -> list[str]:
    """The closing notes: resent requests, the server's own counts and CPU, failures."""
    notes = []
    sent = sum(summary.result.sent for summary in summaries)
    if counts.api_requests > sent:
        resent = counts.api_requests - sent
        notes.append(
            f"{counted(resent, 'API request')} answered 401 (the token expired while the "
            "request waited in a queue) and resent by TokenAuth with a fresh token"
        )
    cpu = f"clients {client_cpu:.1f} s, " if client_cpu is not None else ""
    notes.append(
        f"the server counted {counted(counts.token_requests, 'token request')} and "
        f"{counted(counts.api_requests, 'API request')} in all; CPU used: "
        f"{cpu}server {counts.cpu_seconds:.1f} s"
    )
    for summary in summaries:
        for reason, count in summary.result.failures.most_common(5):
            notes.append(f"{summary.title}: {counted(count, 'request')} failed with {reason}")
    return notes
