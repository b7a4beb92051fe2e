"""instrument(): turn on metrics and spans for every cache, now and later built."""

from __future__ import annotations

import threading
from types import TracebackType

from opentelemetry import metrics, trace

from ..wrappers._hooks import plug
from ..wrappers._reuse import count_hits
from ._metrics import register
from ._spans import RefreshTelemetry

__all__ = ["Instrumentation", "instrument"]

_SCOPE = "tokensources"
_lock = threading.RLock()  # instrument() uninstruments the previous one under it
_current: list[Instrumentation] = []


def instrument(
    *,
    meter_provider: metrics.MeterProvider | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> Instrumentation:
    """Report metrics and spans of every ``reuse()`` cache in the process, until ``uninstrument()``.

    The hot path stays as it is: while instrumented, caches count in plain
    integers, and the observable instruments read those counts only when
    the meter collects. Refreshes (the slow path) get a span and a duration each.

    Without a configured OpenTelemetry SDK the API's providers do nothing,
    so neither does this. An exporter, meter or tracer that raises never
    breaks ``token()``: the error is logged and ignored. Calling
    ``instrument()`` again replaces the previous instrumentation.

    Args:
        meter_provider: where metrics go; default the global provider.
        tracer_provider: where spans go; default the global provider.

    Returns:
        The instrumentation; ``uninstrument()`` (or leaving ``with
        instrument() ...:``) turns it off.
    """
    meter = (meter_provider or metrics.get_meter_provider()).get_meter(_SCOPE)
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(_SCOPE)
    with _lock:
        for previous in _current:
            previous.uninstrument()
        instrumentation = Instrumentation(tracer, meter)
        _current[:] = [instrumentation]
        plug.telemetry = instrumentation.telemetry
        count_hits(True)
    return instrumentation


class Instrumentation:
    """What ``instrument()`` turned on; ``uninstrument()`` turns it off.

    OpenTelemetry cannot remove instruments from a meter: after
    ``uninstrument()`` they stay registered and report nothing. A later
    ``instrument()`` with the same meter uses them again (a meter makes an
    instrument of a given name once).

    Args:
        tracer: where the spans of refreshes go.
        meter: where the metrics go.

    Attributes:
        telemetry: what every cache tells about its refreshes while this
            instrumentation is the one in use.
    """

    def __init__(self, tracer: trace.Tracer, meter: metrics.Meter) -> None:
        self._active = True
        self.telemetry = RefreshTelemetry(tracer, register(meter, self.active))

    def active(self) -> bool:
        """Whether this instrumentation still reports."""
        return self._active

    def uninstrument(self) -> None:
        """Stop reporting: no more spans, and the instruments observe nothing. Idempotent."""
        self._active = False
        with _lock:
            if plug.telemetry is self.telemetry:
                plug.telemetry = None
                count_hits(False)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstrument()
