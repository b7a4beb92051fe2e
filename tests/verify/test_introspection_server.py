"""Introspection against the testing server's own endpoint, in-process and over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, InvalidTokenError, TokenEndpointError
from tokensources.testing import AuthorizationServer, Tenant
from tokensources.verify import Introspection

pytestmark = pytest.mark.anyio

RESOURCE_SERVER = ("resource-server", "rs-secret-0c41e8")


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """The testing server on the fake clock, the resource server registered as a client."""
    server = AuthorizationServer(clock=clock)
    server.register_client(*RESOURCE_SERVER)
    return server


@asynccontextmanager
async def reach(server: AuthorizationServer, transport: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to ``server``: in-process, or over real HTTP on loopback."""
    if transport == "asgi":
        async with server.client() as http:
            yield http
        return
    async with server.serve() as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def introspection(
    server: AuthorizationServer, http: httpx.AsyncClient, **kwargs: Any
) -> Introspection:
    """A verifier for the server's default audience, asking its introspection endpoint."""
    kwargs.setdefault("client", RESOURCE_SERVER)
    kwargs.setdefault("audience", server.audience)
    kwargs.setdefault("issuer", server.issuer)
    kwargs.setdefault("clock", server.clock)
    # In-process the issuer is http://testserver: plain http to a host that is not loopback.
    kwargs.setdefault("allow_insecure_http", True)
    return Introspection(server.introspection_endpoint, http=http, **kwargs)


MINTS: dict[str, Callable[[AuthorizationServer | Tenant], str]] = {
    "opaque": lambda server: server.issue_opaque_token(scope="read:messages"),
    "jwt": lambda server: server.issue_token(scope="read:messages"),
}


@pytest.mark.parametrize("transport", ["asgi", "loopback"])
async def test_metadata_announces_the_endpoint_that_answers(
    server: AuthorizationServer, transport: str
) -> None:
    """The discovery document names the introspection endpoint, and that URL answers there."""
    async with reach(server, transport) as http:
        document = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert document["introspection_endpoint"] == server.introspection_endpoint
        assert server.introspection_endpoint == server.issuer + "/oauth/introspect"
        assert "client_secret_basic" in document["introspection_endpoint_auth_methods_supported"]
        answer = await http.post(
            document["introspection_endpoint"],
            data={"token": server.issue_opaque_token()},
            auth=RESOURCE_SERVER,
        )
    assert (answer.status_code, answer.json()["active"]) == (200, True)


@pytest.mark.parametrize("transport", ["asgi", "loopback"])
@pytest.mark.parametrize("kind", ["opaque", "jwt"])
async def test_tokens_of_the_server_verify_by_introspection(
    server: AuthorizationServer, transport: str, kind: str
) -> None:
    """An opaque or signed token the server issued verifies to its claims, in one request."""
    async with reach(server, transport) as http, introspection(server, http) as verifier:
        token, issuer = MINTS[kind](server), server.issuer
        with anyio.fail_after(10):
            claims = await verifier.verify(token, scopes="read:messages")
            again = await verifier.verify(token)
    assert (claims.subject, claims["iss"], claims["aud"]) == (
        "demo-client",
        issuer,
        server.audience,
    )
    assert claims.scopes == {"read:messages"}
    assert again is claims
    assert len(server.log.requests(endpoint="introspection")) == 1


async def test_a_token_from_the_token_endpoint_verifies(server: AuthorizationServer) -> None:
    """A token bought with client_credentials over HTTP verifies by introspection too."""
    async with server.client() as http, introspection(server, http) as verifier:
        source = ClientCredentials(
            server.token_endpoint, "demo-client", "demo-secret", http=http, allow_insecure_http=True
        )
        token = await source.token()
        claims = await verifier.verify(token.access_token, scopes=["read:messages"])
    assert claims["client_id"] == "demo-client"


@pytest.mark.parametrize("kind", ["opaque", "jwt"])
async def test_a_revoked_token_is_refused_once_its_acceptance_ages_out(
    server: AuthorizationServer, clock: FakeClock, kind: str
) -> None:
    """After ``revoke_token`` the endpoint answers inactive: refused within ``cache_max_age``."""
    async with server.client() as http, introspection(server, http, cache_max_age=30) as verifier:
        token = MINTS[kind](server)
        await verifier.verify(token)
        server.revoke_token(token)
        assert (await verifier.verify(token)).subject == "demo-client"  # still cached
        clock.advance(30)
        with pytest.raises(InvalidTokenError, match="not active"):
            await verifier.verify(token)
    assert len(server.log.requests(endpoint="introspection")) == 2


async def test_an_opaque_token_expires_with_its_lifetime(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """An opaque token lives ``lifetime`` seconds by the server's clock, then is inactive."""
    async with server.client() as http, introspection(server, http, cache_size=0) as verifier:
        token = server.issue_opaque_token(lifetime=60)
        claims = await verifier.verify(token)
        assert claims["exp"] == claims["iat"] + 60
        clock.advance(61)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)


async def test_opaque_tokens_default_to_the_registered_client(server: AuthorizationServer) -> None:
    """Without a scope or lifetime, an opaque token has its client's, as ``issue_token`` does."""
    server.register_client(
        "reporting", "s3cret-reporting", scopes=["reports:read"], token_lifetime=90
    )
    async with server.client() as http, introspection(server, http) as verifier:
        claims = await verifier.verify(server.issue_opaque_token("reporting"))
    assert claims.subject == "reporting"
    assert claims.scopes == {"reports:read"}
    assert claims["exp"] - claims["iat"] == 90


async def test_a_resource_server_with_a_wrong_secret_gets_no_verdict(
    server: AuthorizationServer,
) -> None:
    """Bad resource-server credentials are the endpoint's 401, never a verdict on the token."""
    async with server.client() as http:
        verifier = introspection(server, http, client=("resource-server", "wrong"))
        async with verifier:
            with pytest.raises(TokenEndpointError) as caught:
                await verifier.verify(server.issue_opaque_token())
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")
    assert not isinstance(caught.value, InvalidTokenError)
    (logged,) = server.log.requests(endpoint="introspection")
    assert logged.error == "invalid_client"


async def test_each_tenant_answers_for_its_own_tokens(server: AuthorizationServer) -> None:
    """A tenant's endpoint knows its tokens; the root's tokens are inactive there."""
    tenant = server.tenant("billing")
    tenant.register_client(*RESOURCE_SERVER)
    assert tenant.introspection_endpoint == server.issuer + "/billing/oauth/introspect"
    async with server.client() as http:
        verifier = Introspection(
            tenant.introspection_endpoint,
            client=RESOURCE_SERVER,
            audience=tenant.audience,
            issuer=tenant.issuer,
            clock=server.clock,
            http=http,
            allow_insecure_http=True,
        )
        async with verifier:
            for kind, mint in MINTS.items():
                assert (await verifier.verify(mint(tenant))).subject == "demo-client", kind
                with pytest.raises(InvalidTokenError, match="not active"):
                    await verifier.verify(mint(server))
