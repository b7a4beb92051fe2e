"""``GET /.well-known/jwks.json``: the issuer's public signing keys (RFC 7517 §5)."""

from __future__ import annotations

from ._asgi import Request, Response, json_response
from ._counters import Counters
from ._faults import Faults, fault_response
from ._signing_keys import SigningKeys

__all__ = ["JwksEndpoint"]


class JwksEndpoint:
    """Publishes the signing keys, unless a ``jwks_fail_next`` fault says otherwise.

    Args:
        keys: the issuer's signing keys.
        faults: the misbehaviours queued for JWKS requests.
        counters: where JWKS requests and injected faults are counted.
    """

    def __init__(self, *, keys: SigningKeys, faults: Faults, counters: Counters) -> None:
        self._keys = keys
        self._faults = faults
        self._counters = counters

    async def handle(self, request: Request) -> Response:
        """Answer a JWKS request."""
        request.facts.endpoint = "jwks"
        if request.method != "GET":
            return json_response(405, {"error": "method_not_allowed"}, headers=[("allow", "GET")])
        self._counters.jwks_requests += 1
        fault = self._faults.take_jwks_fault()
        if fault is not None:
            self._counters.faults_injected += 1
            request.facts.outcome = "fault"
            return fault_response(fault)
        return Response(200, self._keys.jwks_bytes(), [(b"cache-control", b"max-age=300")])
