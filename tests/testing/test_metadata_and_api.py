"""JWKS and discovery documents, and the protected demo API (RFC 6750 answers)."""

from __future__ import annotations

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import InvalidTokenError
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

METADATA = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]


async def get(http: httpx.AsyncClient, path: str, token: str | None = None) -> httpx.Response:
    """GET ``path``, with a bearer token when given, bounded."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with anyio.fail_after(10):
        return await http.get(path, headers=headers)


async def test_jwks_publishes_the_public_signing_key(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The JWKS holds one public RSA key whose kid signs the tokens."""
    response = await get(http, "/.well-known/jwks.json")

    keys = response.json()["keys"]
    assert len(keys) == 1
    assert {k: keys[0][k] for k in ("kty", "use", "alg")} == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
    }
    assert "d" not in keys[0]
    assert jwt.get_unverified_header(server.issue_token())["kid"] == keys[0]["kid"]
    assert server.counters.jwks_requests == 1


@pytest.mark.parametrize("path", METADATA)
async def test_metadata_is_built_from_the_issuer(
    server: AuthorizationServer, http: httpx.AsyncClient, path: str
) -> None:
    """Both discovery documents name the issuer, endpoints and supported methods."""
    response = await get(http, path)

    doc = response.json()
    issuer = str(http.base_url).rstrip("/")
    assert doc["issuer"] == server.issuer == issuer
    assert doc["token_endpoint"] == issuer + "/oauth/token"
    assert doc["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert doc["grant_types_supported"] == [
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "none",
    }
    assert "ES256" in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert doc["scopes_supported"] == ["read:messages", "write:messages"]
    assert server.counters.discovery_requests == 1


async def test_an_explicit_issuer_is_kept_while_serving() -> None:
    """A constructor issuer wins over the served URL."""
    server = AuthorizationServer(issuer="https://issuer.example.com/")
    with anyio.fail_after(10):
        async with server.serve() as url, httpx.AsyncClient(base_url=url) as http:
            doc = (await http.get(METADATA[0])).json()

    assert doc["issuer"] == "https://issuer.example.com"
    assert doc["token_endpoint"] == "https://issuer.example.com/oauth/token"


async def test_public_api_needs_no_token(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """/api/public answers 200 without a token."""
    response = await get(http, "/api/public")

    assert response.status_code == 200
    assert "message" in response.json()
    assert server.counters.api_requests == 1


async def test_private_api_accepts_a_valid_token(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A valid token with read:messages gets 200 and its subject back."""
    response = await get(http, "/api/private", server.issue_token())

    assert response.status_code == 200
    assert response.json()["sub"] == "demo-client"


@pytest.mark.parametrize(
    "token",
    [None, "not-a-jwt", "foreign", "wrong-audience", "expired"],
)
async def test_private_api_rejects_bad_tokens_with_401(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, token: str | None
) -> None:
    """Missing, malformed, foreign, mis-addressed or expired tokens get 401 invalid_token."""
    if token == "foreign":
        token = AuthorizationServer(clock=clock).issue_token()
    elif token == "wrong-audience":
        token = server.issue_token(audience="https://other.example.com")
    elif token == "expired":
        token = server.issue_token(lifetime=60)
        clock.advance(61)

    response = await get(http, "/api/private", token)

    assert response.status_code == 401
    # RFC 6750 §3.1: no error code when the request carries no credentials at all.
    expected = "Bearer" if token is None else 'Bearer error="invalid_token"'
    assert response.headers["www-authenticate"] == expected
    if token:
        assert token not in response.text
    assert (server.counters.api_requests, server.counters.api_unauthorized) == (1, 1)


async def test_private_api_answers_403_without_the_scope(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A valid token lacking read:messages gets 403 insufficient_scope."""
    response = await get(http, "/api/private", server.issue_token(scope="write:messages"))

    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="read:messages"'
    )
    assert server.counters.api_forbidden == 1


async def test_rotate_keys_rejects_old_tokens(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """After rotate_keys(), old tokens get 401, new ones 200, and the JWKS shows the new key."""
    old = server.issue_token()
    kid = server.rotate_keys()
    new = server.issue_token()

    assert (await get(http, "/api/private", old)).status_code == 401
    assert (await get(http, "/api/private", new)).status_code == 200
    keys = (await get(http, "/.well-known/jwks.json")).json()["keys"]
    assert [key["kid"] for key in keys] == [kid]


async def test_rotate_keys_keep_old_is_a_rollover(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """With keep_old, both keys are published and both tokens are accepted."""
    old = server.issue_token()
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_kid = server.rotate_keys(keep_old=True)

    assert (await get(http, "/api/private", old)).status_code == 200
    assert (await get(http, "/api/private", server.issue_token())).status_code == 200
    keys = (await get(http, "/.well-known/jwks.json")).json()["keys"]
    assert [key["kid"] for key in keys] == [new_kid, old_kid]


async def test_a_replaced_clock_dates_new_tokens_and_expires_them_in_the_api(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A clock set on a running server is the one its tokens and its API check both use."""
    later = FakeClock(clock.now + 1000)
    server.clock = later
    token = server.issue_token(lifetime=60)

    assert jwt.decode(token, options={"verify_signature": False})["iat"] == later.now
    assert (await get(http, "/api/private", token)).status_code == 200
    later.advance(61)
    assert (await get(http, "/api/private", token)).status_code == 401
    assert server.counters.api_unauthorized == 1


async def test_unknown_paths_are_404(http: httpx.AsyncClient) -> None:
    """Paths the server does not serve answer 404."""
    assert (await get(http, "/nowhere")).status_code == 404
    assert (await get(http, "/api/nowhere")).status_code == 404


async def test_issue_token_sets_the_requested_claims(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """issue_token signs the given subject, scope, audience and lifetime."""
    token = server.issue_token("svc", scope=["a", "b"], lifetime=10, audience="https://x")

    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["scope"], claims["aud"]) == ("svc", "a b", "https://x")
    assert claims["exp"] == clock.now + 10
    with pytest.raises(InvalidTokenError):
        server.verify_access_token(token)  # wrong audience for the demo API
    assert server.counters.tokens_issued == 0


async def test_lifespan_events_are_acknowledged(server: AuthorizationServer) -> None:
    """The app completes the ASGI lifespan protocol."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return incoming.pop(0)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    with anyio.fail_after(10):
        await server({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.parametrize(
    ("query", "status", "location"),
    [
        ("", 307, "/api/private"),
        ("?to=/api/public", 307, "/api/public"),
        ("?to=https%3A%2F%2Felsewhere.example%2Fx", 307, "https://elsewhere.example/x"),
        ("?to=/a%0d%0aSet-Cookie:%20x", 400, None),
    ],
)
async def test_redirect_answers_307_to_where_it_is_told(
    http: httpx.AsyncClient, query: str, status: int, location: str | None
) -> None:
    """/api/redirect: 307 to ``to`` (default /api/private); a header-splitting target is 400."""
    for method in ("GET", "POST"):
        response = await http.request(method, "/api/redirect" + query)

        assert response.status_code == status
        assert response.headers.get("location") == location
