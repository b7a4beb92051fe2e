"""``POST /oauth/token``: count, apply faults and queued answers, authenticate, throttle, grant."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import jwt

from ._answers import QueuedAnswers
from ._asgi import ConnectionDropped, Request, Response, json_response
from ._client_auth import ClientAuthenticator
from ._counters import Counters
from ._dpop import TokenEndpointDPoP
from ._facts import RequestFacts
from ._faults import Faults, fault_response, retry_after_header
from ._grants import Grant
from ._oauth_errors import OAuthError, error_response
from ._quotas import Quotas
from ._strict import check_forwarded_scheme, check_query, exact_expires_in
from ._token_request import TokenRequest, parse_token_request

__all__ = ["TokenEndpoint"]


class TokenEndpoint:
    """The token endpoint (RFC 6749 §3.2) of one issuer.

    Every request is counted as it arrives (and by the client it claims to
    be), then waits out the faults' latency, then meets the next queued
    fault, if any, then the first queued answer that matches it; only then
    is its client authenticated, its quota checked and its grant run.
    Errors are RFC 6749 §5.2 answers with ``Cache-Control: no-store``. What
    it learns is written in the request's ``facts`` for the request log.

    Args:
        counters: where requests, issued tokens and errors are counted.
        faults: the misbehaviours queued for token requests.
        answers: the answers tests queued for matching requests.
        quotas: the issuer's token quotas.
        authenticator: client authentication, shared by every grant.
        grants: the supported grants by ``grant_type``.
        strict: whether strict mode is on, asked for each request.
        dpop: DPoP proofs and nonces (RFC 9449), checked once the client is known.
    """

    def __init__(
        self,
        *,
        counters: Counters,
        faults: Faults,
        answers: QueuedAnswers,
        quotas: Quotas,
        authenticator: ClientAuthenticator,
        grants: Mapping[str, Grant],
        strict: Callable[[], bool],
        dpop: TokenEndpointDPoP | None = None,
    ) -> None:
        self._counters = counters
        self._faults = faults
        self._answers = answers
        self._quotas = quotas
        self._authenticator = authenticator
        self._grants = dict(grants)
        self._strict = strict
        self._dpop = dpop

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
        facts = self._note(request.facts, token_request)
        if facts.client_id is not None:
            counters.by_client[facts.client_id] += 1
        if self._faults.latency > 0:
            await anyio.sleep(self._faults.latency)
        early = self._fault_or_answer(request, facts)
        if early is not None:
            if early.status >= 400:
                counters.token_errors += 1
            return early
        try:
            if parse_error is not None:
                raise parse_error
            payload = self._grant(request, token_request, facts)
        except OAuthError as exc:
            counters.token_errors += 1
            facts.error = exc.error
            facts.outcome = facts.outcome or "refused"
            return self._with_nonce(error_response(exc, request.headers))
        counters.tokens_issued += 1
        facts.outcome = "issued"
        facts.token_claims = _unverified_claims(payload.get("access_token"))
        if self._strict():
            exact_expires_in(payload, facts.token_claims)
        return self._with_nonce(json_response(200, payload, no_store=True))

    def _with_nonce(self, response: Response) -> Response:
        return response if self._dpop is None else self._dpop.with_nonce(response)

    def _note(self, facts: RequestFacts, request: TokenRequest) -> RequestFacts:
        form = request.form
        facts.endpoint = "token"
        facts.client_id = self._authenticator.claimed_client_id(request)
        facts.grant_type = form.get("grant_type")
        facts.auth_method = self._authenticator.method_used(request)
        facts.scope = form.get("scope")
        audience = form.get("audience")
        facts.audiences = (*([audience] if audience else []), *request.resources)
        return facts

    def _fault_or_answer(self, request: Request, facts: RequestFacts) -> Response | None:
        fault = self._faults.take_token_fault()
        if fault is not None:
            self._counters.faults_injected += 1
            facts.outcome = "fault"
            if fault.action == "drop":
                raise ConnectionDropped
            return fault_response(fault)
        queued = self._answers.take(
            facts.path, client_id=facts.client_id, grant_type=facts.grant_type
        )
        return queued.respond(request.headers, facts) if queued is not None else None

    def _grant(self, http: Request, request: TokenRequest, facts: RequestFacts) -> dict[str, Any]:
        grant_type = request.form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is missing")
        if self._strict():
            check_query(http.query)
            check_forwarded_scheme(http.headers)
        client = self._authenticator.authenticate(request)
        jkt = self._dpop.check(http, client.client_id) if self._dpop is not None else None
        facts.dpop_jkt = jkt
        facts.certificate_thumbprint = client.bound_to
        grant = self._grants.get(grant_type)
        if grant is None:
            supported = ", ".join(self._grants)
            raise OAuthError("unsupported_grant_type", f"the supported grants are: {supported}")
        wait = self._quotas.admit(client.client_id)
        if wait is not None:
            facts.outcome = "throttled"
            # Auth0 and Entra answer a throttled token request 429 with Retry-After.
            raise OAuthError(
                "too_many_requests",
                "the client's token quota is used up; retry after the Retry-After delay",
                429,
                retry_after=retry_after_header(wait),
            )
        try:
            payload = grant.issue(request, client)
        except BaseException:
            self._quotas.release(client.client_id)
            raise
        if jkt is not None and self._dpop is not None:
            payload = self._dpop.bind(payload, jkt)
        return payload


def _unverified_claims(access_token: object) -> dict[str, Any] | None:
    """The claims of an access token the server just signed, for the log; None if not a JWT."""
    if not isinstance(access_token, str):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims
