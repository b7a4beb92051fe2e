"""The token endpoint: client_credentials with secrets, scopes, audiences and RFC 6749 errors."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote_plus

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Basic header: id and secret form-urlencoded, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def post(http: httpx.AsyncClient, **kwargs: object) -> httpx.Response:
    """POST to the token endpoint within a bound."""
    with anyio.fail_after(10):
        return await http.post(TOKEN, **kwargs)  # type: ignore[arg-type]


async def test_client_secret_basic_issues_a_signed_token(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Basic authentication gets an RS256 JWT with the documented claims and headers."""
    response = await post(http, data=GRANT, auth=DEMO)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read:messages write:messages"
    claims = server.verify_access_token(body["access_token"])
    assert claims["iss"] == server.issuer
    assert claims["sub"] == DEMO_CLIENT_ID
    assert claims["aud"] == "https://api.example.com"
    assert claims["scope"] == "read:messages write:messages"
    assert (claims["iat"], claims["exp"]) == (clock.now, clock.now + 3600)
    assert claims["jti"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == server.jwks()["keys"][0]["kid"]


async def test_client_secret_post_issues_a_token(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Credentials in the form body get a token too."""
    form = {**GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    response = await post(http, data=form)

    assert response.status_code == 200
    assert server.verify_access_token(response.json()["access_token"])["sub"] == DEMO_CLIENT_ID


async def test_basic_credentials_are_form_decoded(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Special characters in a Basic id and secret are form-urlencoded first (RFC 6749 §2.3.1)."""
    client_id, secret = "svc:one two+three", "p@ss:wo rd+/%"
    server.register_client(client_id, secret)

    response = await post(http, data=GRANT, headers=basic(client_id, secret))

    assert response.status_code == 200
    assert server.verify_access_token(response.json()["access_token"])["sub"] == client_id
    assert server.counters.by_client[client_id] == 1


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [(DEMO_CLIENT_ID, "wrong-secret"), ("nobody", "anything-secret")],
    ids=["wrong-secret", "unknown-client"],
)
async def test_failed_basic_authentication_is_invalid_client_with_a_challenge(
    server: AuthorizationServer, http: httpx.AsyncClient, client_id: str, secret: str
) -> None:
    """A wrong secret or unknown client over Basic answers 401 invalid_client with a challenge."""
    response = await post(http, data=GRANT, headers=basic(client_id, secret))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert response.headers["cache-control"] == "no-store"
    assert secret not in response.text
    assert server.counters.token_errors == 1
    assert server.counters.tokens_issued == 0


async def test_failed_post_authentication_is_invalid_client(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A wrong secret in the form answers 401 invalid_client without a Basic challenge."""
    form = {**GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": "wrong-secret"}
    response = await post(http, data=form)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" not in response.headers
    assert "wrong-secret" not in response.text


async def test_no_client_authentication_is_invalid_client(http: httpx.AsyncClient) -> None:
    """A request naming a client without any credential is invalid_client."""
    response = await post(http, data={**GRANT, "client_id": DEMO_CLIENT_ID})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_two_authentication_methods_are_invalid_request(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Basic and a form secret together answer 400 invalid_request."""
    form = {**GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    response = await post(http, data=form, auth=DEMO)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert server.counters.tokens_issued == 0


@pytest.mark.parametrize(
    ("content", "content_type", "error", "status"),
    [
        ("grant_type=password", "application/x-www-form-urlencoded", "unsupported_grant_type", 400),
        ("scope=read%3Amessages", "application/x-www-form-urlencoded", "invalid_request", 400),
        ('{"grant_type": "client_credentials"}', "application/json", "invalid_request", 400),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            "application/x-www-form-urlencoded",
            "invalid_request",
            400,
        ),
        (
            "grant_type=client_credentials&scope=%FF",
            "application/x-www-form-urlencoded",
            "invalid_request",
            400,
        ),
    ],
    ids=["unsupported-grant", "missing-grant", "json-body", "repeated-param", "bad-encoding"],
)
async def test_malformed_requests_get_rfc6749_errors(
    http: httpx.AsyncClient, content: str, content_type: str, error: str, status: int
) -> None:
    """Malformed or unsupported requests answer the RFC 6749 §5.2 error code."""
    headers = {"Content-Type": content_type}
    response = await post(http, content=content, headers=headers, auth=DEMO)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def test_get_on_the_token_endpoint_is_refused(http: httpx.AsyncClient) -> None:
    """The token endpoint answers GET with 405 and an Allow header."""
    with anyio.fail_after(10):
        response = await http.get(TOKEN)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_requested_scopes_are_granted_when_allowed(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A subset of the allowed scopes is granted exactly."""
    response = await post(http, data={**GRANT, "scope": "read:messages"}, auth=DEMO)

    assert response.status_code == 200
    assert response.json()["scope"] == "read:messages"
    assert server.verify_access_token(response.json()["access_token"])["scope"] == "read:messages"


async def test_a_scope_not_allowed_is_invalid_scope(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Asking for a scope the client may not have answers 400 invalid_scope."""
    response = await post(http, data={**GRANT, "scope": "read:messages admin"}, auth=DEMO)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert server.counters.token_errors == 1


@pytest.mark.parametrize("param", ["audience", "resource"])
async def test_an_allowed_audience_becomes_the_aud_claim(
    server: AuthorizationServer, http: httpx.AsyncClient, param: str
) -> None:
    """The ``audience`` or ``resource`` parameter picks the token's aud among allowed ones."""
    other = "https://other.example.com"
    server.register_client("multi", "multi-secret", audiences=[server.audience, other])

    response = await post(http, data={**GRANT, param: other}, auth=("multi", "multi-secret"))

    assert response.status_code == 200
    token = response.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == other


@pytest.mark.parametrize("param", ["audience", "resource"])
async def test_an_audience_not_allowed_is_invalid_target(
    http: httpx.AsyncClient, param: str
) -> None:
    """An audience the client may not ask for answers 400 invalid_target."""
    response = await post(http, data={**GRANT, param: "https://evil.example.com"}, auth=DEMO)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


async def test_token_lifetime_is_settable_and_per_client(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The server's lifetime can change at run time, and a client's own lifetime wins."""
    server.token_lifetime = 60
    server.register_client("short", "short-secret", token_lifetime=5)

    default = await post(http, data=GRANT, auth=DEMO)
    short = await post(http, data=GRANT, auth=("short", "short-secret"))

    assert default.json()["expires_in"] == 60
    assert short.json()["expires_in"] == 5
    assert server.verify_access_token(short.json()["access_token"])["exp"] == clock.now + 5


@pytest.mark.parametrize(
    ("lifetime", "announced"),
    [(3600, 3600), (12.5, 12), (59.999, 59), (1.0, 1), (0.4, 1)],
    ids=["whole", "half", "almost-a-minute", "one", "under-a-second"],
)
async def test_expires_in_is_whole_seconds_while_exp_stays_exact(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    lifetime: float,
    announced: int,
) -> None:
    """expires_in is an integer (rounded down, at least 1); the token's exp keeps the fraction."""
    server.token_lifetime = lifetime

    response = await post(http, data=GRANT, auth=DEMO)

    assert response.status_code == 200
    # RFC 6749 §5.1 clients parse an integer: the wire text itself must be one ("12", not "12.5").
    wire = re.search(r'"expires_in":([^,}]*)', response.text)
    assert wire is not None
    assert wire.group(1) == str(announced)
    assert response.json()["expires_in"] == announced
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["exp"] == clock.now + lifetime


async def test_a_clients_fractional_lifetime_is_announced_in_whole_seconds(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A client registered with a fractional lifetime gets whole seconds too, and its exact exp."""
    server.register_client("brief", "brief-secret", token_lifetime=90.75)

    response = await post(http, data=GRANT, auth=("brief", "brief-secret"))

    assert response.json()["expires_in"] == 90
    assert isinstance(response.json()["expires_in"], int)
    token = response.json()["access_token"]
    assert server.verify_access_token(token)["exp"] == clock.now + 90.75


async def test_counters_count_requests_per_client(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Counters record every token request, issued tokens, errors and the claimed client."""
    await post(http, data=GRANT, auth=DEMO)
    await post(http, data=GRANT, auth=DEMO)
    await post(http, data=GRANT, auth=("nobody", "x"))

    counters = server.counters
    assert counters.token_requests == 3
    assert counters.tokens_issued == 2
    assert counters.token_errors == 1
    assert counters.by_client == {DEMO_CLIENT_ID: 2, "nobody": 1}
    counters.reset()
    assert (counters.token_requests, counters.tokens_issued, dict(counters.by_client)) == (0, 0, {})
