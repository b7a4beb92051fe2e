"""OpenTelemetry metrics and spans for every token source and cache in the process.

Needs the ``otel`` extra (``pip install "tokensources[otel]"``: the
OpenTelemetry API only; the SDK and its exporters are the application's)::

    from tokensources.otel import instrument

    instrument()  # the global meter and tracer providers

Metrics (attributes: ``tokensources.source``, the source's identity
fingerprint, and the ones listed; never a client id, URL, scope or error
text):

* ``tokensources.token.requests`` (counter): ``token()`` calls by
  ``tokensources.outcome``: ``hit``, ``soft_window_hit``, ``miss``,
  ``coalesced``, ``cooldown``.
* ``tokensources.refresh.duration`` (histogram, s): token-endpoint calls by
  ``tokensources.result`` (``success``, ``failure``), ``error.type`` and
  ``http.response.status_code`` (when the endpoint answered an error).
* ``tokensources.refresh.failures`` (counter): failed refreshes by ``error.type``.
* ``tokensources.token.remaining_lifetime`` (gauge, s): how long the cached
  token has left.
* ``tokensources.cooldowns.active`` (up-down counter): sources whose last
  refresh failed.
* ``tokensources.lock.waits`` (counter): callers that waited for a refresh
  under way, by ``tokensources.scope`` (``process``, ``fleet``).
* ``tokensources.dpop.nonce_retries`` (counter): requests resent with a new
  DPoP nonce.

Spans: one ``tokensources.refresh`` span per token-endpoint call (a cache's
refresh), none on cache hits.
"""

from __future__ import annotations

from ._instrument import Instrumentation, instrument

__all__ = ["Instrumentation", "instrument"]
