"""The request log: what every request was, never a secret, and assertions with clear messages."""

from __future__ import annotations

import uuid

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.support.testing_keys import PrivateKey, public_jwk
from tokensources import ConfigError, DPoPKey
from tokensources.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    AuthorizationServer,
    LoggedRequest,
    RequestLog,
)

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET = "s3cret-that-must-never-be-logged"


async def test_each_request_is_logged_with_what_it_was_and_what_came_of_it(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Token, API and metadata requests are logged in order with client, grant, method, status."""
    with anyio.fail_after(10):
        issued = await http.post(
            "/oauth/token", data={**GRANT, "scope": "read:messages"}, auth=DEMO
        )
        clock.advance(1)
        refused = await http.post("/oauth/token", data=GRANT, auth=(DEMO_CLIENT_ID, "wrong"))
        api = await http.get("/api/private", headers={"Authorization": "Bearer not-a-jwt"})
        await http.get("/.well-known/openid-configuration")
        await http.get("/nowhere")

    entries = server.log.requests()
    assert [(e.number, e.method, e.path, e.endpoint, e.status) for e in entries] == [
        (1, "POST", "/oauth/token", "token", 200),
        (2, "POST", "/oauth/token", "token", 401),
        (3, "GET", "/api/private", "api", 401),
        (4, "GET", "/.well-known/openid-configuration", "metadata", 200),
        (5, "GET", "/nowhere", None, 404),
    ]
    first, second, third = entries[:3]
    assert (first.client_id, first.grant_type, first.auth_method) == (
        DEMO_CLIENT_ID,
        "client_credentials",
        "client_secret_basic",
    )
    assert (first.scope, first.outcome, first.at) == ("read:messages", "issued", clock.now - 1)
    assert first.token_claims is not None
    assert first.token_claims == jwt.decode(
        issued.json()["access_token"], options={"verify_signature": False}
    )
    assert (second.error, second.outcome, second.at) == ("invalid_client", "refused", clock.now)
    assert (third.error, api.status_code) == ("invalid_token", 401)
    assert (first.dpop_jkt, first.certificate_thumbprint) == (None, None)
    assert refused.status_code == 401


async def test_no_secret_assertion_or_token_reaches_the_log(
    server: AuthorizationServer, http: httpx.AsyncClient, private_keys: dict[str, PrivateKey]
) -> None:
    """Secrets in Basic, the form and the URL, assertions and bearer tokens never appear."""
    key = private_keys["P-256"]
    server.register_client("svc", SECRET, jwks={"keys": [public_jwk(key, kid="k1")]})
    claims = {
        "iss": "svc",
        "sub": "svc",
        "aud": server.token_endpoint,
        "exp": server.clock() + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    with anyio.fail_after(10):
        basic = await http.post("/oauth/token", data=GRANT, auth=("svc", SECRET))
        await http.post(
            f"/oauth/token?client_secret={SECRET}",
            data={**GRANT, "client_id": "svc", "client_secret": SECRET},
        )
        await http.post(
            "/oauth/token",
            data={**GRANT, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion},
        )
        token = basic.json()["access_token"]
        await http.get("/api/private", headers={"Authorization": f"Bearer {token}"})
        server.enqueue_error(400, "invalid_request")
        await http.post("/oauth/token", data=GRANT, auth=("svc", SECRET))
        page = await http.get("/_debug")

    entries = server.log.requests()
    shown = "\n".join([repr(entries), *(e.summary() for e in entries), page.text])
    with pytest.raises(AssertionError) as caught:
        server.assert_token_requests(99)
    shown += str(caught.value)
    for value in (SECRET, assertion, token, token.rsplit(".", 1)[1]):
        assert value not in shown
    assert [e.auth_method for e in entries if e.endpoint == "token"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert [e.status for e in entries[:4]] == [200, 200, 200, 200]


async def test_assert_token_requests_counts_with_filters(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The assertion passes on the exact count and returns the matching requests."""
    server.register_client("billing", "billing-secret")
    with anyio.fail_after(10):
        await http.post("/oauth/token", data=GRANT, auth=DEMO)
        await http.post("/oauth/token", data=GRANT, auth=("billing", "billing-secret"))
        await http.post("/oauth/token", data=GRANT, auth=("billing", "wrong"))

    matched = server.assert_token_requests(2, client_id="billing")
    server.assert_token_requests(1, client_id="billing", status=200)
    server.assert_token_requests(3)
    server.log.assert_requests(0, endpoint="api")

    assert [e.status for e in matched] == [200, 401]
    assert all(isinstance(e, LoggedRequest) for e in matched)


async def test_a_failed_assertion_shows_what_the_server_saw(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The failure message gives the expectation, the count, and every token request seen."""
    with anyio.fail_after(10):
        await http.post("/oauth/token", data=GRANT, auth=DEMO)
        await http.post("/oauth/token", data=GRANT, auth=(DEMO_CLIENT_ID, "wrong"))

    with pytest.raises(AssertionError) as caught:
        server.assert_token_requests(1, client_id="billing")

    assert str(caught.value).splitlines() == [
        "expected 1 token request with client_id='billing', found 0",
        "matching: none",
        "all token requests seen:",
        "  #1 POST /oauth/token client=demo-client grant=client_credentials"
        " auth=client_secret_basic -> 200 issued",
        "  #2 POST /oauth/token client=demo-client grant=client_credentials"
        " auth=client_secret_basic -> 401 invalid_client",
    ]


async def test_a_tenant_counts_its_own_requests_and_the_server_counts_all(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """tenant.assert_token_requests sees the tenant only; the server's sees every issuer."""
    tenant = server.tenant("tenant-a")
    with anyio.fail_after(10):
        await http.post("/tenant-a/oauth/token", data=GRANT, auth=DEMO)
        await http.post("/oauth/token", data=GRANT, auth=DEMO)

    tenant.assert_token_requests(1)
    server.assert_token_requests(2)
    server.assert_token_requests(1, issuer="")
    assert [e.issuer for e in server.log.token_requests()] == ["tenant-a", ""]
    assert [e.issuer for e in tenant.token_requests()] == ["tenant-a"]


async def test_a_dropped_connection_is_logged_as_dropped(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A request whose connection a fault dropped is logged, with no status."""
    server.faults.drop_next(1)
    with pytest.raises(httpx.TransportError), anyio.fail_after(10):
        await http.post("/oauth/token", data=GRANT, auth=DEMO)

    (entry,) = server.log.requests()
    assert (entry.status, entry.outcome, entry.client_id) == (None, "dropped", DEMO_CLIENT_ID)
    assert entry.summary().endswith("-> dropped")


async def test_the_log_keeps_its_size_and_says_what_it_forgot() -> None:
    """A full log drops its oldest entries, counts them, and says so when an assertion fails."""
    server = AuthorizationServer(request_log_size=2)
    async with server.client() as http:
        for _ in range(3):
            with anyio.fail_after(10):
                await http.get("/api/public")

    assert [e.number for e in server.log] == [2, 3]
    assert (len(server.log), server.log.forgotten) == (2, 1)
    with pytest.raises(AssertionError, match="1 older requests were forgotten"):
        server.log.assert_requests(3)


def test_bad_filters_and_sizes_are_refused() -> None:
    """An unknown filter or a size below one is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="clientid"):
        RequestLog().requests(clientid="x")
    with pytest.raises(ConfigError, match="size"):
        RequestLog(0)


async def test_a_dpop_proof_is_logged_with_its_key_thumbprint(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A verified DPoP proof is logged with its key's thumbprint; a bad one, as present."""
    key = DPoPKey.generate(clock=clock)
    url = str(http.base_url).rstrip("/") + "/oauth/token"
    with anyio.fail_after(10):
        bound = await http.post(
            "/oauth/token", data=GRANT, auth=DEMO, headers={"DPoP": key.proof("POST", url)}
        )
        forged = await http.post("/oauth/token", data=GRANT, auth=DEMO, headers={"DPoP": "x.y.z"})
        plain = await http.post("/oauth/token", data=GRANT, auth=DEMO)

    assert bound.status_code == 200, bound.text
    assert forged.status_code == 400
    assert plain.status_code == 200
    first, second, third = server.log.token_requests()
    assert (first.dpop_proof, first.dpop_jkt) == (True, key.thumbprint)
    assert (second.dpop_proof, second.dpop_jkt) == (True, None)
    assert (third.dpop_proof, third.dpop_jkt) == (False, None)
    assert server.log.assert_token_requests(1, dpop_jkt=key.thumbprint) == [first]
    assert server.log.assert_token_requests(2, dpop_proof=True) == [first, second]
    assert f"dpop={key.thumbprint[:8]}…" in first.summary()
    assert " dpop " in second.summary()
    assert "dpop" not in third.summary()
    assert "x.y.z" not in "".join(entry.summary() for entry in server.log)
