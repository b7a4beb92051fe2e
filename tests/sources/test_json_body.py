"""``body="json"``: token exchange and JWT bearer in JSON, on the wire and end to end."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import (
    AuthStyle,
    ClientCredentials,
    ConfigError,
    DPoPKey,
    JWTBearer,
    Static,
    TokenEndpointError,
    TokenExchange,
    TokenResponseError,
)
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://idp.example.com/oauth/token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server with an https issuer, reached in-process."""
    return AuthorizationServer(issuer="https://idp.example.com", clock=clock)


def _subject(server: AuthorizationServer, **kwargs: Any) -> str:
    return server.workload_issuer.mint_kubernetes(audience=server.issuer, **kwargs)


def _recorder(seen: list[httpx.Request], answer: dict[str, Any]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_json_exchange_sends_one_object_of_the_form_fields() -> None:
    """The JSON body holds exactly the fields the form would, client_secret_post ones included."""
    seen: list[httpx.Request] = []
    answer = {"access_token": "issued", "token_type": "Bearer", "expires_in": 60}
    async with _recorder(seen, answer) as http:
        client = ClientCredentials(TOKEN_URL, "app", "s3cret", auth_style=AuthStyle.BODY, http=http)
        source = TokenExchange(
            TOKEN_URL,
            Static("subject-jwt"),
            audience="https://api.example.com",
            client=client,
            body="json",
            http=http,
        )
        token = await source.token()
    assert token.access_token == "issued"
    (request,) = seen
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "subject-jwt",
        "subject_token_type": JWT_TYPE,
        "audience": "https://api.example.com",
        "client_id": "app",
        "client_secret": "s3cret",
    }


async def test_dpop_proof_travels_with_a_json_body() -> None:
    """With dpop=, the JSON request carries its DPoP header as a form request does."""
    seen: list[httpx.Request] = []
    answer = {"access_token": "issued", "token_type": "DPoP"}
    key = DPoPKey.generate()
    async with _recorder(seen, answer) as http:
        source = JWTBearer(TOKEN_URL, Static("assertion-jwt"), body="json", dpop=key, http=http)
        token = await source.token()
    (request,) = seen
    assert json.loads(request.content)["assertion"] == "assertion-jwt"
    assert "dpop" in request.headers
    assert (token.token_type, token.jkt) == ("DPoP", key.thumbprint)


async def test_form_stays_the_default() -> None:
    """Without body=, the request is the RFC 6749 form, as before."""
    seen: list[httpx.Request] = []
    answer = {"access_token": "issued", "token_type": "Bearer"}
    async with _recorder(seen, answer) as http:
        await JWTBearer(TOKEN_URL, Static("assertion-jwt"), http=http).token()
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"


async def test_json_exchange_and_jwt_bearer_get_tokens(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Against the testing server, both grants in JSON issue a token for the workload."""
    sent: list[str] = []

    async def note(request: httpx.Request) -> None:
        sent.append(request.headers["content-type"])

    http.event_hooks["request"].append(note)
    client = ClientCredentials(server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)
    exchange = TokenExchange(
        server.token_endpoint,
        Static(_subject(server)),
        requested_token_type="access_token",
        client=client,
        body="json",
        http=http,
        clock=clock,
    )
    bearer = JWTBearer(
        server.token_endpoint,
        Static(_subject(server)),
        client=client,
        body="json",
        http=http,
        clock=clock,
    )
    for token in (await exchange.token(), await bearer.token()):
        claims = jwt.decode(token.access_token, options={"verify_signature": False})
        assert claims["sub"] == "system:serviceaccount:default:workload"
    assert server.counters.tokens_issued == 2
    assert sent == ["application/json", "application/json"]


async def test_public_json_exchange_needs_no_client(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A JSON exchange without a client (the public client of the dialects) is issued."""
    server.workload_issuer.audiences.add("https://api.example.com/workload")
    subject = server.workload_issuer.mint_kubernetes(audience="https://api.example.com/workload")
    source = TokenExchange(
        server.token_endpoint,
        Static(subject),
        audience="https://api.example.com/workload",
        body="json",
        http=http,
        clock=clock,
    )
    token = await source.token()
    assert token.extra["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


async def test_json_error_answer_reads_like_a_form_one(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An untrusted subject sent as JSON is the same typed invalid_grant, without the token."""
    untrusted = server.workload_issuer.mint("x", server.issuer, issuer="https://elsewhere.example")
    client = ClientCredentials(server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)
    errors: list[TokenEndpointError] = []
    for body in ("form", "json"):
        source = TokenExchange(
            server.token_endpoint,
            Static(untrusted),
            client=client,
            body=body,
            http=http,
            clock=clock,
        )
        with pytest.raises(TokenEndpointError) as info:
            await source.token()
        errors.append(info.value)
        assert untrusted not in str(info.value)
        assert untrusted not in repr(info.value)
    form, json_ = errors
    assert (json_.error, json_.status_code, json_.transient) == (
        form.error,
        form.status_code,
        form.transient,
    )
    assert json_.error == "invalid_grant"


async def test_a_json_answer_without_a_token_is_a_response_error() -> None:
    """A JSON-dialect 2xx that is not a token (no access_token) is TokenResponseError."""
    seen: list[httpx.Request] = []
    async with _recorder(seen, {"token": "wrong-name"}) as http:
        source = JWTBearer(TOKEN_URL, Static("assertion-jwt"), body="json", http=http)
        with pytest.raises(TokenResponseError):
            await source.token()
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (200, '[1, "ASSERTION"]', TokenResponseError),
        (200, '"ASSERTION"', TokenResponseError),
        (400, '["invalid_grant", "ASSERTION"]', TokenEndpointError),
        (400, "null", TokenEndpointError),
    ],
    ids=["2xx-array", "2xx-string", "4xx-array", "4xx-null"],
)
async def test_a_json_answer_that_is_no_object_is_a_typed_error(
    status: int, content: str, error: type[Exception]
) -> None:
    """An answer whose JSON is not an object is a typed error, the assertion masked in it."""
    assertion = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ3b3JrbG9hZCJ9.c2lnbmF0dXJl"

    def handle(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        # Valid JSON, an echo of the assertion inside: only its shape is wrong.
        text = content.replace("ASSERTION", assertion)
        return httpx.Response(status, content=text.encode(), headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        source = JWTBearer(TOKEN_URL, Static(assertion), body="json", http=http)
        with pytest.raises(error) as info:
            await source.token()
    assert type(info.value) is error
    assert assertion not in str(info.value)


@pytest.mark.parametrize("body", ["JSON", "xml", "", None])
def test_unknown_body_is_a_config_error(body: Any) -> None:
    """body= is "form" or "json"; anything else is refused when the source is built."""
    with pytest.raises(ConfigError, match="body must be"):
        TokenExchange(TOKEN_URL, Static("subject-jwt"), body=body)
    with pytest.raises(ConfigError, match="body must be"):
        JWTBearer(TOKEN_URL, Static("assertion-jwt"), body=body)
