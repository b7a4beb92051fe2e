"""The observable instruments: they read the caches' plain-integer counts when a meter collects.

Nothing here runs on a ``token()`` call. A collection walks the live caches
once per instrument, sums their counts by identity fingerprint, and yields
one observation per identity and attribute set.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

from ..wrappers._hooks import OUTCOMES, TokenReports, event_counts, live_reports

__all__ = ["SOURCE", "register", "source_attributes"]

SOURCE = "tokensources.source"
"""The attribute naming a source: its identity fingerprint, never its client id or URL."""

Callback = Callable[[CallbackOptions], Iterable[Observation]]


def source_attributes(reports: TokenReports) -> dict[str, str]:
    """The attributes every observation of one cache carries."""
    return {SOURCE: reports.identity()}


# OpenTelemetry keeps the first instrument made under a name on a meter and
# hands it back for later ones, dropping their callbacks (with a warning):
# instruments made again for a second instrument() on the same meter would
# never report. So each meter gets them once, and they ask who reports now.
_lock = threading.Lock()
_registered: weakref.WeakKeyDictionary[Meter, tuple[Histogram, list[Callable[[], bool]]]] = (
    weakref.WeakKeyDictionary()
)


def register(meter: Meter, active: Callable[[], bool]) -> Histogram:
    """The instruments on ``meter``, made on its first use; they report while ``active()``.

    A later call for the same meter makes nothing new: its instruments
    report for the latest ``active`` from then on.

    Returns:
        The ``tokensources.refresh.duration`` histogram (fed by the spans' telemetry).
    """
    with _lock:
        known = _registered.get(meter)
        if known is not None:
            known[1][0] = active
            return known[0]
        current = [active]
        _registered[meter] = (_create(meter, current), current)
        return _registered[meter][0]


def _create(meter: Meter, current: list[Callable[[], bool]]) -> Histogram:
    def when_active(callback: Callback) -> Callback:
        def guarded(options: CallbackOptions) -> Iterable[Observation]:
            return callback(options) if current[0]() else ()

        return guarded

    meter.create_observable_counter(
        "tokensources.token.requests",
        callbacks=[when_active(_requests)],
        unit="{request}",
        description="token() calls by outcome: hit, soft_window_hit, miss, coalesced, cooldown",
    )
    meter.create_observable_counter(
        "tokensources.refresh.failures",
        callbacks=[when_active(_failures)],
        unit="{failure}",
        description="failed refreshes by error class",
    )
    meter.create_observable_gauge(
        "tokensources.token.remaining_lifetime",
        callbacks=[when_active(_remaining)],
        unit="s",
        description="seconds until the cached token expires, when it has a known expiry",
    )
    meter.create_observable_up_down_counter(
        "tokensources.cooldowns.active",
        callbacks=[when_active(_cooldowns)],
        unit="{source}",
        description="sources whose last refresh failed (backing off until one succeeds)",
    )
    meter.create_observable_counter(
        "tokensources.lock.waits",
        callbacks=[when_active(_lock_waits)],
        unit="{wait}",
        description="callers that waited for a refresh under way, by scope (process, fleet)",
    )
    meter.create_observable_counter(
        "tokensources.dpop.nonce_retries",
        callbacks=[when_active(_nonce_retries)],
        unit="{retry}",
        description="requests sent again with a new DPoP nonce",
    )
    meter.create_observable_counter(
        "tokensources.dpop.bearer_answers",
        callbacks=[when_active(_bearer_answers)],
        unit="{token}",
        description="DPoP token requests answered with a Bearer token (the server ignores DPoP)",
    )
    return meter.create_histogram(
        "tokensources.refresh.duration",
        unit="s",
        description="duration of token-endpoint calls (refreshes), by result and HTTP status",
    )


def _by_source(
    measure: Callable[[TokenReports], Iterable[tuple[dict[str, str], float]]],
) -> list[Observation]:
    """Sum ``measure``'s values over live caches, by source and attributes."""
    totals: defaultdict[tuple[tuple[str, str], ...], float] = defaultdict(float)
    for reports in live_reports():
        base = source_attributes(reports)
        for attributes, value in measure(reports):
            totals[tuple(sorted({**base, **attributes}.items()))] += value
    return [Observation(value, dict(key)) for key, value in totals.items()]


def _requests(options: CallbackOptions) -> Iterable[Observation]:
    def measure(reports: TokenReports) -> Iterable[tuple[dict[str, str], float]]:
        counts = reports.outcomes()
        return [({"tokensources.outcome": name}, counts[name]) for name in OUTCOMES]

    return _by_source(measure)


def _failures(options: CallbackOptions) -> Iterable[Observation]:
    def measure(reports: TokenReports) -> Iterable[tuple[dict[str, str], float]]:
        return [({"error.type": name}, n) for name, n in dict(reports.failures).items()]

    return _by_source(measure)


def _remaining(options: CallbackOptions) -> Iterable[Observation]:
    # Gauges are not summed: the shortest remaining lifetime per source.
    shortest: dict[str, float] = {}
    for reports in live_reports():
        left = reports.remaining_lifetime()
        if left is None:
            continue
        name = reports.identity()
        shortest[name] = min(left, shortest.get(name, left))
    return [Observation(left, {SOURCE: name}) for name, left in shortest.items()]


def _cooldowns(options: CallbackOptions) -> Iterable[Observation]:
    return _by_source(lambda reports: [({}, 1 if reports.failing else 0)])


def _lock_waits(options: CallbackOptions) -> Iterable[Observation]:
    observations = _by_source(
        lambda reports: [({"tokensources.scope": "process"}, reports.outcomes()["coalesced"])]
    )
    fleet = event_counts().get("lock_wait", 0)
    if fleet:
        observations.append(Observation(fleet, {"tokensources.scope": "fleet"}))
    return observations


def _nonce_retries(options: CallbackOptions) -> Iterable[Observation]:
    retries = event_counts().get("dpop_nonce_retry", 0)
    return [Observation(retries)] if retries else []


def _bearer_answers(options: CallbackOptions) -> Iterable[Observation]:
    answers = event_counts().get("dpop_bearer_answer", 0)
    return [Observation(answers)] if answers else []
