"""A source built from a protected resource's RFC 9728 metadata, against the testing server.

The resource (an app protected by ``BearerAuth`` with ``ResourceMetadata``)
and the authorization server are two origins in one process: the client's
``httpx`` mounts reach each through its own ASGI transport.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.clock import FakeClock
from tokensources import (
    ClientCredentials,
    ConfigError,
    PrivateKeyJWT,
    Static,
    TokenAuth,
    TokenExchange,
    TokenResponseError,
)
from tokensources.testing import AuthorizationServer
from tokensources.testing._inprocess import InProcessTransport
from tokensources.verify import BearerAuth, JWTVerifier, ResourceMetadata, claims_from

pytestmark = pytest.mark.anyio

ORIGIN = "http://mcp.test"
RESOURCE = ORIGIN + "/mcp"
METADATA_URL = ORIGIN + "/.well-known/oauth-protected-resource/mcp"
Message = MutableMapping[str, Any]


async def whoami(scope: Message, receive: Any, send: Any) -> None:
    """The protected endpoint: answers with the caller's subject."""
    body = str(claims_from(scope).subject).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


class Resource:
    """A protected resource whose metadata names ``authorization_servers``, or names ``claims``."""

    def __init__(self, server: AuthorizationServer, clock: FakeClock, **metadata: Any) -> None:
        metadata.setdefault("authorization_servers", [server.issuer])
        self.metadata = ResourceMetadata(
            metadata.pop("resource", RESOURCE), allow_insecure_http=True, **metadata
        )
        self.verifier = JWTVerifier(
            server.issuer,
            RESOURCE,
            clock=clock,
            http=server.client(),
            allow_insecure_http=True,
        )
        self.app = BearerAuth(whoami, self.verifier, metadata=self.metadata)

    async def aclose(self) -> None:
        """Close the verifier and the client it borrowed."""
        await self.verifier.aclose()


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """The testing server, its demo client allowed to ask for tokens for the resource."""
    server = AuthorizationServer(clock=clock)
    server.register_client("demo-client", "demo-secret", audiences=[server.audience, RESOURCE])
    return server


def client_for(server: AuthorizationServer, resource: Resource) -> httpx.AsyncClient:
    """One client reaching both origins in-process."""
    return httpx.AsyncClient(
        mounts={
            ORIGIN: httpx.ASGITransport(app=resource.app),
            server.issuer: InProcessTransport(app=server),
        }
    )


@pytest.fixture
async def http(server: AuthorizationServer, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client to the resource (its metadata naming the server) and to the server."""
    resource = Resource(server, clock)
    async with client_for(server, resource) as http:
        yield http
    await resource.aclose()


async def from_resource(http: httpx.AsyncClient, **kwargs: Any) -> ClientCredentials:
    """``ClientCredentials.from_resource`` for the demo client over ``http``."""
    return await ClientCredentials.from_resource(
        kwargs.pop("resource", RESOURCE),
        "demo-client",
        "demo-secret",
        http=http,
        allow_insecure_http=True,
        **kwargs,
    )


async def test_the_source_gets_tokens_for_the_resource(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The issuer comes from the metadata, the token URL from discovery; ``resource=`` is sent."""
    async with await from_resource(http) as source:
        assert source.token_url == server.token_endpoint
        assert source.params == {"resource": RESOURCE}
        token = await source.token()
    assert jwt.decode(token.access_token, options={"verify_signature": False})["aud"] == RESOURCE
    (request,) = server.log.token_requests()
    assert request.audiences == (RESOURCE,)


async def test_a_401_leads_the_client_to_a_token_the_resource_accepts(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The challenge's ``resource_metadata`` is enough to build a source the resource accepts."""
    refused = await http.get(RESOURCE)
    assert refused.status_code == 401
    found = re.search(r'resource_metadata="([^"]+)"', refused.headers["www-authenticate"])
    assert found is not None
    assert found.group(1) == METADATA_URL
    async with await from_resource(http, metadata_url=found.group(1)) as source:
        answer = await http.get(RESOURCE, auth=TokenAuth(source))
    assert (answer.status_code, answer.text) == (200, "demo-client")
    assert len(server.log.token_requests()) == 1


async def test_several_authorization_servers_need_a_choice(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """With two issuers listed, none is guessed; ``authorization_server=`` picks one of them."""
    tenant = server.tenant("eu")
    resource = Resource(server, clock, authorization_servers=[server.issuer, tenant.issuer])
    async with client_for(server, resource) as http:
        with pytest.raises(
            ConfigError, match=r"lists 2 authorization servers .*authorization_server="
        ):
            await from_resource(http)
        async with await from_resource(http, authorization_server=tenant.issuer) as source:
            assert source.token_url == tenant.token_endpoint
        with pytest.raises(ConfigError, match="does not list authorization server"):
            await from_resource(http, authorization_server="http://other.test")
    await resource.aclose()
    assert server.counters.token_requests == 0


async def test_metadata_without_an_authorization_server_is_a_config_error(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A resource that names no authorization server cannot say where tokens come from."""
    resource = Resource(server, clock, authorization_servers=[])
    async with client_for(server, resource) as http:
        with pytest.raises(ConfigError, match="names no authorization server"):
            await from_resource(http)
    await resource.aclose()
    assert server.counters.discovery_requests == 0


async def test_metadata_naming_another_resource_is_refused(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A document for another resource is not used: no discovery, no token request."""
    resource = Resource(server, clock)
    async with client_for(server, resource) as http:
        with pytest.raises(
            TokenResponseError, match=r"names resource .*not used \(RFC 9728 §3.3\)"
        ):
            await from_resource(http, resource=ORIGIN + "/other", metadata_url=METADATA_URL)
    await resource.aclose()
    assert (server.counters.discovery_requests, server.counters.token_requests) == (0, 0)


async def test_send_resource_false_leaves_the_form_alone(http: httpx.AsyncClient) -> None:
    """For servers that refuse ``resource``, the form carries only what the caller gave."""
    async with await from_resource(http, send_resource=False, audience="urn:api") as source:
        assert source.params == {"audience": "urn:api"}


async def test_a_resource_given_twice_must_agree(http: httpx.AsyncClient) -> None:
    """The same resource in ``params`` is fine; another one is a ConfigError."""
    async with await from_resource(http, params={"resource": RESOURCE, "x": "1"}) as source:
        assert source.params == {"resource": RESOURCE, "x": "1"}
    with pytest.raises(ConfigError, match="was given too"):
        await from_resource(http, params={"resource": "https://elsewhere.example"})


async def test_every_grant_builds_from_a_resource(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Token exchange takes the resource as its ``resource=``; PrivateKeyJWT as a form field."""
    subject = Static(server.issue_token())
    exchange = await TokenExchange.from_resource(
        RESOURCE, subject, http=http, allow_insecure_http=True
    )
    async with exchange:
        assert (exchange.token_url, exchange.resource) == (server.token_endpoint, RESOURCE)
    signed = await PrivateKeyJWT.from_resource(
        RESOURCE,
        "demo-client",
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        http=http,
        allow_insecure_http=True,
    )
    async with signed:
        assert signed.params == {"resource": RESOURCE}
