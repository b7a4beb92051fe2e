"""Several issuers on one server, chosen by the first path segment, each with its own everything."""

from __future__ import annotations

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, ConfigError, InvalidTokenError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer, Tenant

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def token_from(http: httpx.AsyncClient, path: str, auth: tuple[str, str]) -> httpx.Response:
    """One client_credentials request to ``path``, bounded."""
    with anyio.fail_after(10):
        return await http.post(path, data=GRANT, auth=auth)


async def test_a_tenant_needs_only_its_name_and_has_its_own_metadata_and_keys(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """server.tenant(name) serves its own issuer, endpoints and JWKS under /<name>/."""
    tenant = server.tenant("tenant-a")

    document = (await http.get("/tenant-a/.well-known/openid-configuration")).json()
    rfc8414 = (await http.get("/tenant-a/.well-known/oauth-authorization-server")).json()
    jwks = (await http.get("/tenant-a/.well-known/jwks.json")).json()
    root_jwks = (await http.get("/.well-known/jwks.json")).json()

    assert tenant.issuer == f"{server.issuer}/tenant-a"
    assert document == rfc8414 == tenant.metadata()
    assert document["issuer"] == tenant.issuer
    assert document["token_endpoint"] == f"{server.issuer}/tenant-a/oauth/token"
    assert document["jwks_uri"] == f"{server.issuer}/tenant-a/.well-known/jwks.json"
    assert jwks == tenant.jwks()
    assert {k["kid"] for k in jwks["keys"]}.isdisjoint(k["kid"] for k in root_jwks["keys"])


async def test_rfc8414_inserted_discovery_paths_find_the_tenant(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """RFC 8414 §3.1 puts a path issuer's metadata at /.well-known/…/<name>; that works too."""
    tenant = server.tenant("tenant-b")

    for suffix in ("oauth-authorization-server", "openid-configuration"):
        response = await http.get(f"/.well-known/{suffix}/tenant-b")
        assert response.status_code == 200
        assert response.json()["issuer"] == tenant.issuer


async def test_each_tenant_has_its_own_clients_and_tokens(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A client of one tenant is unknown to another and to the root; tokens carry their issuer."""
    a, b = server.tenant("tenant-a"), server.tenant("tenant-b")
    a.register_client("billing", "billing-secret")

    at_a = await token_from(http, "/tenant-a/oauth/token", ("billing", "billing-secret"))
    at_b = await token_from(http, "/tenant-b/oauth/token", ("billing", "billing-secret"))
    at_root = await token_from(http, "/oauth/token", ("billing", "billing-secret"))

    assert (at_a.status_code, at_b.status_code, at_root.status_code) == (200, 401, 401)
    token = at_a.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == a.issuer
    assert a.verify_access_token(token)["sub"] == "billing"
    with pytest.raises(InvalidTokenError):
        b.verify_access_token(token)
    with pytest.raises(InvalidTokenError):
        server.verify_access_token(token)
    assert a.client_ids() == ["billing", DEMO_CLIENT_ID]


async def test_the_demo_client_and_api_work_in_every_tenant(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The demo client is registered in a new tenant, whose API accepts only its own tokens."""
    server.tenant("tenant-a")
    token = (await token_from(http, "/tenant-a/oauth/token", DEMO)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    own = await http.get("/tenant-a/api/private", headers=bearer)
    root = await http.get("/api/private", headers=bearer)

    assert (own.status_code, root.status_code) == (200, 401)
    assert server.counters.by_client[DEMO_CLIENT_ID] == 1


async def test_the_root_issuer_is_unchanged_by_tenants(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Adding tenants leaves the root's issuer, metadata and token endpoint as they were."""
    before = server.metadata()
    server.tenant("tenant-a")

    answer = await token_from(http, "/oauth/token", DEMO)

    assert server.metadata() == before
    assert answer.status_code == 200
    assert server.verify_access_token(answer.json()["access_token"])["iss"] == server.issuer


async def test_tenant_settings_follow_the_server_until_set(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """A tenant follows the server's lifetime, audience and clock, until given its own."""
    tenant = server.tenant("tenant-a")
    server.token_lifetime = 60
    server.audience = "https://one.example"
    followed = tenant.verify_access_token(tenant.issue_token(audience="https://one.example"))

    tenant.token_lifetime = 5
    tenant.audience = "https://two.example"
    server.token_lifetime = 999
    own = jwt.decode(tenant.issue_token(), options={"verify_signature": False})

    assert followed["exp"] == clock.now + 60
    assert (own["exp"] - own["iat"], own["aud"]) == (5, "https://two.example")
    assert server.token_lifetime == 999


async def test_tenants_share_the_servers_clock(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Moving the server's clock expires every tenant's tokens: one clock for every issuer."""
    tenant = server.tenant("tenant-a")
    token = tenant.issue_token(lifetime=30)

    clock.advance(31)

    with pytest.raises(InvalidTokenError):
        tenant.verify_access_token(token)


async def test_a_tenant_handle_is_made_once(server: AuthorizationServer) -> None:
    """Asking for a tenant again returns the same handle, listed in server.tenants."""
    first = server.tenant("tenant-a")

    assert server.tenant("tenant-a") is first
    assert isinstance(first, Tenant)
    assert server.tenants == {"tenant-a": first}
    assert first.name == "tenant-a"


@pytest.mark.parametrize(
    "name", ["", "oauth", "api", ".well-known", "_debug", "a/b", "-x", "x" * 65, "é"]
)
async def test_a_name_that_cannot_be_a_path_segment_is_refused(
    server: AuthorizationServer, name: str
) -> None:
    """Names that collide with the server's own paths or are not a plain segment are refused."""
    with pytest.raises(ConfigError, match="issuer name"):
        server.tenant(name)

    assert server.tenants == {}


async def test_client_credentials_discovers_a_tenant_on_loopback(
    server: AuthorizationServer,
) -> None:
    """The library's own source finds a tenant by discovery over HTTP and gets its token."""
    tenant = server.tenant("tenant-a")
    async with server.serve() as url:
        source = await ClientCredentials.from_issuer(f"{url}/tenant-a", *DEMO)
        async with source:
            with anyio.fail_after(10):
                token = await source.token()
        claims = tenant.verify_access_token(token.access_token)

    assert claims["iss"] == f"{url}/tenant-a"
    tenant.assert_token_requests(1, client_id=DEMO_CLIENT_ID, status=200)
