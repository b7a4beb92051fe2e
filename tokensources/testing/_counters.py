"""What the testing server has seen, for assertions in tests and benchmarks."""

from __future__ import annotations

from collections import Counter

__all__ = ["Counters"]


class Counters:
    """Request counters of one ``AuthorizationServer``.

    Every request the server answers (or drops) is counted as soon as it
    arrives, faults included, so a test can assert exactly how many token
    requests a client made.

    Attributes:
        token_requests: every request to the token endpoint, whatever happened
            to it (answered, failed by a fault, dropped).
        tokens_issued: successful token responses carrying a real access token.
        token_errors: token endpoint answers with an error status (4xx/5xx),
            real or injected by a fault.
        faults_injected: token and JWKS requests answered by a fault instead of
            the real logic (failures, malformed bodies, drops).
        by_client: token requests per client id, as the request claimed it
            (from Basic, the form or the assertion), counted before the client
            is authenticated; requests naming no client are not in it.
        api_requests: requests to ``/api/*``.
        api_unauthorized: ``/api/*`` answers with 401 (missing or invalid token).
        api_forbidden: ``/api/*`` answers with 403 (insufficient scope).
        jwks_requests: requests to the JWKS endpoint.
        discovery_requests: requests to either metadata document.

    Counters are plain integers updated by the server's event loop; reading
    them from another thread (with ``serve_in_thread``) is safe.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.token_requests = 0
        self.tokens_issued = 0
        self.token_errors = 0
        self.faults_injected = 0
        self.by_client: Counter[str] = Counter()
        self.api_requests = 0
        self.api_unauthorized = 0
        self.api_forbidden = 0
        self.jwks_requests = 0
        self.discovery_requests = 0

    def __repr__(self) -> str:
        return (
            f"Counters(token_requests={self.token_requests}, tokens_issued={self.tokens_issued}, "
            f"token_errors={self.token_errors}, faults_injected={self.faults_injected}, "
            f"by_client={dict(self.by_client)!r}, api_requests={self.api_requests}, "
            f"api_unauthorized={self.api_unauthorized}, api_forbidden={self.api_forbidden}, "
            f"jwks_requests={self.jwks_requests}, discovery_requests={self.discovery_requests})"
        )
