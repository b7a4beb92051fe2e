"""``POST /oauth/token``: the client_credentials grant (RFC 6749 §4.4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import anyio

from ._asgi import ConnectionDropped, Request, Response, json_response
from ._client_auth import OAuthError, RegisteredClient, claimed_client_id
from ._faults import fault_response

if TYPE_CHECKING:
    from ._server import AuthorizationServer

__all__ = ["handle_token_request", "numeric"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# RFC 8707 §2: "resource" may be repeated; every other parameter may not (RFC 6749 §3.2).
_REPEATABLE = frozenset({"resource"})
_MAX_FIELDS = 64


def numeric(value: float) -> int | float:
    """``value`` as an int when it is whole (so JSON shows ``3600``, not ``3600.0``)."""
    return int(value) if float(value).is_integer() else value


async def handle_token_request(server: AuthorizationServer, request: Request) -> Response:
    """Answer one token request: count it, apply faults, then run the grant.

    Raises:
        ConnectionDropped: a ``drop_next`` fault asked for the connection to be dropped.
    """
    counters = server.counters
    counters.token_requests += 1
    parse_error: OAuthError | None = None
    try:
        form, resources = _parse_form(request)
    except OAuthError as exc:
        form, resources, parse_error = {}, [], exc
    client_id = claimed_client_id(request.headers, form)
    if client_id is not None:
        counters.by_client[client_id] += 1
    if server.faults.latency > 0:
        await anyio.sleep(server.faults.latency)
    fault = server.faults.take_token_fault()
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
        response = _grant(server, request, form, resources)
    except OAuthError as exc:
        counters.token_errors += 1
        return _error_response(exc, request)
    counters.tokens_issued += 1
    return response


def _parse_form(request: Request) -> tuple[dict[str, str], list[str]]:
    if request.method != "POST":
        raise OAuthError("invalid_request", "the token endpoint accepts POST only", 405)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {FORM_CONTENT_TYPE}")
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError:
        raise OAuthError("invalid_request", "the form body cannot be decoded") from None
    form: dict[str, str] = {}
    resources: list[str] = []
    for name, value in pairs:
        if not value:  # RFC 6749 §3.1: a parameter without a value counts as omitted
            continue
        if name in _REPEATABLE:
            resources.append(value)
        elif name in form:
            raise OAuthError("invalid_request", f"parameter {name!r} is repeated")
        else:
            form[name] = value
    return form, resources


def _grant(
    server: AuthorizationServer, request: Request, form: dict[str, str], resources: list[str]
) -> Response:
    if "grant_type" not in form:
        raise OAuthError("invalid_request", "grant_type is missing")
    client = server._authenticate_client(request, form)
    if form["grant_type"] != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only the client_credentials grant is supported")
    scopes = _granted_scopes(client, form.get("scope"))
    audience = _audience(server, client, form.get("audience"), resources)
    lifetime = server._lifetime_for(client)
    access_token = server._mint(client.client_id, " ".join(scopes), audience, lifetime)
    payload = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": numeric(lifetime),
        "scope": " ".join(scopes),
    }
    return json_response(200, payload, no_store=True)


def _granted_scopes(client: RegisteredClient, requested: str | None) -> tuple[str, ...]:
    if requested is None:  # RFC 6749 §3.3: the server may apply a default scope
        return client.scopes
    # RFC 6749 §3.3: space-delimited, order does not matter; keep the caller's order.
    wanted = tuple(scope for scope in dict.fromkeys(requested.split(" ")) if scope)
    refused = [scope for scope in wanted if scope not in client.scopes]
    if refused:
        raise OAuthError("invalid_scope", f"scope {refused[0]!r} is not allowed for this client")
    return wanted or client.scopes


def _audience(
    server: AuthorizationServer,
    client: RegisteredClient,
    audience: str | None,
    resources: Sequence[str],
) -> str | list[str]:
    allowed = client.audiences or (server.audience,)
    wanted = list(dict.fromkeys([*([audience] if audience else []), *resources]))
    if not wanted:
        return allowed[0]
    refused = [value for value in wanted if value not in allowed]
    if refused:
        raise OAuthError(
            "invalid_target", f"audience {refused[0]!r} is not allowed for this client"
        )
    return wanted[0] if len(wanted) == 1 else wanted


def _error_response(error: OAuthError, request: Request) -> Response:
    headers: list[tuple[str, str]] = []
    authorization = request.headers.get("authorization", "")
    if error.error == "invalid_client" and authorization[:6].lower() == "basic ":
        # RFC 6749 §5.2: Basic was tried, so answer 401 with a challenge.
        headers.append(("www-authenticate", 'Basic realm="tokensources-testing"'))
    if error.status == 405:
        headers.append(("allow", "POST"))
    payload = {"error": error.error, "error_description": error.description}
    return json_response(error.status, payload, headers=headers, no_store=True)
