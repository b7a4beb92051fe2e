"""Bad input on the resource side: nothing fails open, everything is refused clearly.

Oversized tokens (both verifiers, directly and through ``BearerAuth``), a
metadata document that names another resource, an introspection endpoint
that is down or answers nonsense (401 or 503, never 200), and a key
rotation that withdraws a key with cached verifications.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier, jwk_of, other_rsa_key
from tokensources import (
    InvalidTokenError,
    TokenEndpointError,
    TokenRequestError,
    TokenResponseError,
    TokenSourceError,
)
from tokensources.testing import AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    Introspection,
    JWTVerifier,
    ResourceMetadata,
    Verifier,
    claims_from,
    fetch_resource_metadata,
)

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, Any]
RESOURCE_SERVER = ("resource-server", "rs-secret-5d20b7")
INTROSPECT = "/oauth/introspect"
RESOURCE = "https://mcp.example.com/mcp"


async def whoami(scope: Message, receive: Any, send: Any) -> None:
    """The protected endpoint: answers 200 with the caller's subject."""
    body = str(claims_from(scope).subject).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def through_bearer_auth(verifier: Verifier, token: str, **kwargs: Any) -> httpx.Response:
    """One request with ``token`` to an app protected by ``BearerAuth(verifier)``."""
    app = BearerAuth(whoami, verifier, **kwargs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://mcp.example.com") as api:
        with anyio.fail_after(10):
            return await api.get("/mcp", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """The testing server on the fake clock, the resource server registered as a client."""
    server = AuthorizationServer(clock=clock)
    server.register_client(*RESOURCE_SERVER)
    return server


@pytest.fixture
async def introspection(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> AsyncIterator[Introspection]:
    """An ``Introspection`` verifier asking the server's endpoint in-process."""
    verifier = Introspection(
        server.introspection_endpoint,
        client=RESOURCE_SERVER,
        audience=server.audience,
        max_token_bytes=256,
        failure_backoff=10,
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    async with verifier:
        yield verifier


def introspections(server: AuthorizationServer) -> int:
    """Requests that reached the introspection path, however they were answered."""
    return len(server.log.requests(path=INTROSPECT))


# --- tokens over the size cap ------------------------------------------------------------------


async def test_an_oversized_token_costs_introspection_nothing(
    server: AuthorizationServer, introspection: Introspection
) -> None:
    """One byte over ``max_token_bytes`` is refused before any request; at the cap it is asked."""
    with pytest.raises(InvalidTokenError, match="longer than 256 bytes"):
        await introspection.verify("a" * 257)
    response = await through_bearer_auth(introspection, "a" * 257)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert introspections(server) == 0
    with pytest.raises(InvalidTokenError, match="not active"):
        await introspection.verify("a" * 256)
    assert introspections(server) == 1


async def test_an_oversized_token_costs_the_jwt_verifier_nothing(
    server: AuthorizationServer, make_verifier: MakeVerifier
) -> None:
    """An oversized JWT is a 401 with no discovery or JWKS request; at the cap it is parsed."""
    verifier = make_verifier(max_token_bytes=1024)
    token = server.issue_token(claims={"pad": "x" * 1200})
    assert len(token) > 1024
    metadata = ResourceMetadata(
        RESOURCE, authorization_servers=[server.issuer], allow_insecure_http=True
    )
    response = await through_bearer_auth(verifier, token, metadata=metadata)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{metadata.url}"' in challenge
    with pytest.raises(InvalidTokenError, match="longer than 1024 bytes"):
        await verifier.verify(token)
    counters = server.counters
    assert (counters.discovery_requests, counters.jwks_requests) == (0, 0)
    with pytest.raises(InvalidTokenError) as caught:
        await verifier.verify("a" * 1024)
    assert "longer than" not in str(caught.value)


# --- a metadata document that names another resource -------------------------------------------


def serving(document: object, *, status: int = 200) -> httpx.AsyncClient:
    """A client to a resource host that answers every path with ``document`` as JSON."""

    async def app(scope: Message, receive: Any, send: Any) -> None:
        body = json.dumps(document).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


@pytest.mark.parametrize(
    "named",
    [
        "https://evil.example.com/mcp",
        "https://mcp.example.com/mcp/",
        "https://mcp.example.com/MCP",
        "https://mcp.example.com",
        None,
        ["https://mcp.example.com/mcp"],
    ],
    ids=["other-host", "trailing-slash", "other-case", "origin-only", "absent", "a-list"],
)
async def test_metadata_naming_another_resource_is_refused(named: object) -> None:
    """RFC 9728 §3.3: the document's ``resource`` must be identical to the one asked for."""
    document = {"authorization_servers": ["https://idp.example.com"]}
    if named is not None:
        document["resource"] = named  # type: ignore[assignment]
    async with serving(document) as http:
        with pytest.raises(TokenResponseError, match=r"names resource .* not used") as caught:
            await fetch_resource_metadata(RESOURCE, http=http)
    assert "oauth-protected-resource/mcp" in str(caught.value)


@pytest.mark.parametrize(
    ("document", "status", "error", "match"),
    [
        (
            {"resource": RESOURCE, "authorization_servers": "https://idp"},
            200,
            TokenResponseError,
            "not a list",
        ),
        ({"resource": RESOURCE, "scopes_supported": [1]}, 200, TokenResponseError, "not a list"),
        (["resource", RESOURCE], 200, TokenResponseError, "JSON object"),
        ({"error": "not_found"}, 404, TokenEndpointError, "answered 404"),
    ],
    ids=["servers-not-a-list", "scopes-not-strings", "not-an-object", "404"],
)
async def test_unusable_metadata_is_refused(
    document: object, status: int, error: type[Exception], match: str
) -> None:
    """A document that is not RFC 9728 metadata is an error of the resource, named as such."""
    async with serving(document, status=status) as http:
        with pytest.raises(error, match=match):
            await fetch_resource_metadata(RESOURCE, http=http)


# --- an introspection endpoint that is down -------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Breakage = Callable[[AuthorizationServer], None]
BREAKAGES: dict[str, Breakage] = {
    "503": lambda s: s.enqueue_error(
        503, "temporarily_unavailable", path=INTROSPECT, retry_after=7
    ),
    "500": lambda s: s.enqueue_response(500, "upstream failed", path=INTROSPECT),
    "html-200": lambda s: s.enqueue_response(200, "<html>maintenance</html>", path=INTROSPECT),
    "active-as-string": lambda s: s.enqueue_response(200, {"active": "true"}, path=INTROSPECT),
    "no-active": lambda s: s.enqueue_response(200, {"sub": "demo-client"}, path=INTROSPECT),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
async def test_a_broken_endpoint_is_never_an_acceptance(
    server: AuthorizationServer, introspection: Introspection, breakage: str
) -> None:
    """Down or nonsense answers raise an error that is not a verdict; BearerAuth says 503."""
    BREAKAGES[breakage](server)
    token = server.issue_opaque_token()
    with pytest.raises(TokenSourceError) as caught:
        await introspection.verify(token)
    assert not isinstance(caught.value, InvalidTokenError)
    assert token not in str(caught.value)
    # Within the backoff the same error comes at once, without another request.
    response = await through_bearer_auth(introspection, server.issue_opaque_token())
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers
    assert int(response.headers["retry-after"]) > 0
    assert introspections(server) == 1


async def test_an_unreachable_endpoint_is_503_through_bearer_auth(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Connection refused: ``verify`` raises TokenRequestError and the app answers 503."""
    url = f"http://127.0.0.1:{closed_port()}{INTROSPECT}"
    verifier = Introspection(url, client=RESOURCE_SERVER, audience=server.audience, clock=clock)
    async with verifier:
        with pytest.raises(TokenRequestError) as caught:
            await verifier.verify(server.issue_opaque_token())
        assert caught.value.transient
        clock.advance(60)  # past the backoff: a new attempt, failing the same way
        response = await through_bearer_auth(verifier, server.issue_opaque_token())
    assert response.status_code == 503


async def test_bad_resource_server_credentials_are_503_not_200_or_401(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The endpoint refusing the resource server says nothing about the token: 503."""
    verifier = Introspection(
        server.introspection_endpoint,
        client=(RESOURCE_SERVER[0], "not-the-secret"),
        audience=server.audience,
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    async with verifier:
        response = await through_bearer_auth(verifier, server.issue_opaque_token())
    assert response.status_code == 503
    assert "not-the-secret" not in response.text


async def test_after_the_outage_tokens_verify_again_and_expired_acceptances_do_not_linger(
    server: AuthorizationServer, introspection: Introspection, clock: FakeClock
) -> None:
    """A cached acceptance outlives an outage only until its max age; the backoff then ends."""
    known = server.issue_opaque_token()
    assert (await through_bearer_auth(introspection, known)).status_code == 200
    server.enqueue_error(503, "temporarily_unavailable", path=INTROSPECT, times=2)
    assert (await through_bearer_auth(introspection, known)).status_code == 200  # cached verdict
    clock.advance(60)  # the acceptance's max age: it must be asked again, and the endpoint is down
    assert (await through_bearer_auth(introspection, known)).status_code == 503
    clock.advance(10)  # the backoff: the next attempt is made, and fails too
    assert (await through_bearer_auth(introspection, known)).status_code == 503
    clock.advance(20)  # the doubled backoff; the endpoint is back
    fresh = server.issue_opaque_token()
    assert (await through_bearer_auth(introspection, fresh)).status_code == 200
    assert (await through_bearer_auth(introspection, known)).status_code == 200
    assert introspections(server) == 5


# --- a key rotation that withdraws a key with cached verifications ----------------------------


async def test_a_withdrawn_key_takes_its_cached_verifications_with_it(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """Tokens verified (and cached) under a withdrawn key are 401 once the key set is refreshed."""
    verifier = make_verifier()
    old = [server.issue_token() for _ in range(3)]
    for token in old:
        assert (await through_bearer_auth(verifier, token)).status_code == 200
    server.rotate_keys()
    assert (
        await through_bearer_auth(verifier, old[0])
    ).status_code == 200  # keys not refreshed yet
    clock.advance(61)  # past the unknown-kid cooldown
    assert (await through_bearer_auth(verifier, server.issue_token())).status_code == 200
    for token in old:
        response = await through_bearer_auth(verifier, token)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert server.counters.jwks_requests == 2


async def test_a_rollover_that_keeps_the_key_keeps_its_verifications(
    server: AuthorizationServer, make_verifier: MakeVerifier, clock: FakeClock
) -> None:
    """With the old key still published, cached verifications stay valid after the refresh."""
    verifier = make_verifier()
    old = server.issue_token()
    await verifier.verify(old)
    server.rotate_keys(keep_old=True)
    clock.advance(61)
    await verifier.verify(server.issue_token())
    assert (await verifier.verify(old)).subject == "demo-client"
    assert server.counters.jwks_requests == 2


async def test_a_kid_that_comes_to_name_another_key_is_not_trusted_from_the_cache(
    clock: FakeClock,
) -> None:
    """Same kid, another key: the cached verification is dropped and the token checked again."""
    first, second = other_rsa_key(), other_rsa_key()
    published = {"keys": [jwk_of(first, kid="k1")]}
    verifier = JWTVerifier(
        "https://idp.example.com", "https://api.example.com", jwks=lambda: published, clock=clock
    )
    claims = {
        "iss": "https://idp.example.com",
        "aud": "https://api.example.com",
        "sub": "demo-client",
        "exp": int(clock()) + 3600,
    }
    token = jwt.encode(claims, first, algorithm="RS256", headers={"kid": "k1"})
    assert (await verifier.verify(token)).subject == "demo-client"
    published = {"keys": [jwk_of(second, kid="k1")]}
    with pytest.raises(InvalidTokenError, match="signature"):
        await verifier.verify(token)
    published = {"keys": []}
    with pytest.raises(InvalidTokenError):
        await verifier.verify(token)
