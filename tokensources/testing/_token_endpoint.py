"""``POST /oauth/token``: count, apply faults, authenticate the client, run its grant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from ._asgi import ConnectionDropped, Request, Response, json_response
from ._client_auth import ClientAuthenticator
from ._counters import Counters
from ._faults import Faults, fault_response
from ._grants import Grant
from ._oauth_errors import OAuthError, error_response
from ._token_request import TokenRequest, parse_token_request

__all__ = ["TokenEndpoint"]


class TokenEndpoint:
    """The token endpoint (RFC 6749 §3.2) of one issuer.

    Every request is counted as it arrives (and by the client it claims to
    be), then waits out the faults' latency, then meets the next queued
    fault, if any; only then is it parsed, its client authenticated and its
    grant run. Errors are RFC 6749 §5.2 answers with ``Cache-Control: no-store``.

    Args:
        counters: where requests, issued tokens and errors are counted.
        faults: the misbehaviours queued for token requests.
        authenticator: client authentication, shared by every grant.
        grants: the supported grants by ``grant_type``.
    """

    def __init__(
        self,
        *,
        counters: Counters,
        faults: Faults,
        authenticator: ClientAuthenticator,
        grants: Mapping[str, Grant],
    ) -> None:
        self._counters = counters
        self._faults = faults
        self._authenticator = authenticator
        self._grants = dict(grants)

    @property
    def grant_types(self) -> list[str]:
        """The supported ``grant_type`` values (``grant_types_supported``)."""
        return list(self._grants)

    async def handle(self, request: Request) -> Response:
        """Answer one token request.

        Raises:
            ConnectionDropped: a ``drop_next`` fault asked for the connection to be dropped.
        """
        counters = self._counters
        counters.token_requests += 1
        parse_error: OAuthError | None = None
        try:
            token_request = parse_token_request(request)
        except OAuthError as exc:
            token_request, parse_error = TokenRequest(request.headers), exc
        client_id = self._authenticator.claimed_client_id(token_request)
        if client_id is not None:
            counters.by_client[client_id] += 1
        if self._faults.latency > 0:
            await anyio.sleep(self._faults.latency)
        fault = self._faults.take_token_fault()
        if fault is not None:
            counters.faults_injected += 1
            if fault.action == "drop":
                raise ConnectionDropped
            response = fault_response(fault)
            if response.status >= 400:
                counters.token_errors += 1
            return response
        try:
            if parse_error is not None:
                raise parse_error
            payload = self._grant(token_request)
        except OAuthError as exc:
            counters.token_errors += 1
            return error_response(exc, request.headers)
        counters.tokens_issued += 1
        return json_response(200, payload, no_store=True)

    def _grant(self, request: TokenRequest) -> dict[str, Any]:
        grant_type = request.form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is missing")
        client = self._authenticator.authenticate(request)
        grant = self._grants.get(grant_type)
        if grant is None:
            supported = ", ".join(self._grants)
            raise OAuthError("unsupported_grant_type", f"the supported grants are: {supported}")
        return grant.issue(request, client)
