"""The telemetry of refreshes: one span and one duration per token-endpoint call.

Plugged into every ``reuse()`` cache by ``instrument()``; it hears about
refreshes only, never about hits, so a cache hit makes no span.
"""

from __future__ import annotations

from opentelemetry.metrics import Histogram
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ..wrappers._hooks import ABANDONED, TokenReports
from ._metrics import SOURCE

__all__ = ["RefreshTelemetry"]

SPAN_NAME = "tokensources.refresh"


class RefreshTelemetry:
    """Spans (``tokensources.refresh``) and the ``tokensources.refresh.duration`` histogram.

    Attributes carry the source's identity fingerprint, the result, the
    error's class and the token endpoint's HTTP status: never a client id,
    URL, scope or error text (messages may quote what the endpoint said).
    """

    def __init__(self, tracer: Tracer, duration: Histogram) -> None:
        self._tracer = tracer
        self._duration = duration

    def refresh_started(self, reports: TokenReports) -> object:
        """Start the span of one refresh (not made current: it ends in another call)."""
        return self._tracer.start_span(
            SPAN_NAME, kind=SpanKind.INTERNAL, attributes={SOURCE: reports.identity()}
        )

    def refresh_ended(
        self, reports: TokenReports, handle: object, seconds: float, error: BaseException | None
    ) -> None:
        """Record the duration and end the span, with the result and, on failure, the class."""
        attributes: dict[str, str | int] = {SOURCE: reports.identity()}
        if error is ABANDONED:
            attributes["tokensources.result"] = "cancelled"
        elif error is None:
            attributes["tokensources.result"] = "success"
        else:
            attributes["tokensources.result"] = "failure"
            attributes["error.type"] = type(error).__name__
            status = getattr(error, "status_code", None)
            if isinstance(status, int) and not isinstance(status, bool):
                attributes["http.response.status_code"] = status
        if error is not ABANDONED:
            self._duration.record(seconds, attributes)
        if isinstance(handle, Span):
            handle.set_attributes(attributes)
            if error is not None and error is not ABANDONED:
                # The class only: a description is shown to whoever reads traces.
                handle.set_status(Status(StatusCode.ERROR, type(error).__name__))
            handle.end()
