"""Token quotas: N tokens per client per window on the server's clock, then 429 with Retry-After."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, ConfigError, TokenEndpointError, reuse
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer, Quota

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def ask(http: httpx.AsyncClient, auth: tuple[str, str] = DEMO) -> httpx.Response:
    """One token request, bounded."""
    with anyio.fail_after(10):
        return await http.post("/oauth/token", data=GRANT, auth=auth)


async def test_a_client_over_its_quota_gets_429_with_retry_after(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Two tokens per minute: the third request in the minute is throttled until one leaves it."""
    server.set_quota(2, 60)

    first = await ask(http)
    clock.advance(10)
    second = await ask(http)
    clock.advance(20)
    throttled = await ask(http)

    assert (first.status_code, second.status_code, throttled.status_code) == (200, 200, 429)
    assert throttled.json()["error"] == "too_many_requests"
    assert throttled.headers["retry-after"] == "30"  # the first token leaves the window at 60
    assert throttled.headers["cache-control"] == "no-store"
    clock.advance(29.5)
    assert (await ask(http)).status_code == 429
    clock.advance(0.5)
    assert (await ask(http)).status_code == 200
    server.assert_token_requests(2, outcome="throttled", status=429)
    assert server.counters.tokens_issued == 3


async def test_quotas_are_per_client_and_a_client_quota_replaces_the_default(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Each client has its own window; a quota for one client id overrides the default."""
    server.register_client("batch", "batch-secret")
    server.register_client("free", "free-secret")
    server.set_quota(1, 3600)
    server.set_quota(3, 3600, client_id="batch")

    demo = [(await ask(http)).status_code for _ in range(2)]
    batch = [(await ask(http, ("batch", "batch-secret"))).status_code for _ in range(4)]
    free = [(await ask(http, ("free", "free-secret"))).status_code for _ in range(2)]

    assert demo == [200, 429]
    assert batch == [200, 200, 200, 429]
    assert free == [200, 429]


async def test_refused_requests_do_not_use_the_quota(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A wrong secret or a refused scope costs no token of the quota."""
    server.set_quota(1, 60)

    wrong = await ask(http, (DEMO_CLIENT_ID, "wrong"))
    with anyio.fail_after(10):
        bad_scope = await http.post("/oauth/token", data={**GRANT, "scope": "admin"}, auth=DEMO)
    good = await ask(http)

    assert (wrong.status_code, bad_scope.status_code, good.status_code) == (401, 400, 200)


async def test_a_tenants_quota_is_its_own(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A quota set on a tenant throttles its tokens only."""
    server.tenant("tenant-a").set_quota(1, 60)

    with anyio.fail_after(10):
        at_tenant = [
            (await http.post("/tenant-a/oauth/token", data=GRANT, auth=DEMO)).status_code
            for _ in range(2)
        ]
    at_root = [(await ask(http)).status_code for _ in range(2)]

    assert at_tenant == [200, 429]
    assert at_root == [200, 200]


async def test_cleared_quotas_throttle_nothing(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """clear_quotas removes the quotas and what they counted."""
    server.set_quota(1, 60)
    await ask(http)
    server.clear_quotas()

    assert (await ask(http)).status_code == 200


async def test_a_cached_source_stays_under_a_quota_a_naive_one_breaks(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Through reuse() 20 calls cost one token; without it the second call is throttled."""
    server.set_quota(1, 3600)
    async with server.client() as http:
        url = server.token_endpoint
        cached = reuse(
            ClientCredentials(url, *DEMO, http=http, allow_insecure_http=True, clock=clock),
            clock=clock,
        )
        naive = ClientCredentials(url, *DEMO, http=http, allow_insecure_http=True, clock=clock)
        with anyio.fail_after(10):
            tokens = {(await cached.token()).access_token for _ in range(20)}
            with pytest.raises(TokenEndpointError) as caught:
                await naive.token()

    assert len(tokens) == 1
    assert (caught.value.status_code, caught.value.error) == (429, "too_many_requests")
    assert caught.value.transient
    server.assert_token_requests(1, status=200)


@pytest.mark.parametrize(
    ("tokens", "per"), [(0, 60), (1.5, 60), (True, 60), (1, 0), (1, float("inf")), (1, "60")]
)
async def test_a_quota_that_makes_no_sense_is_refused(
    server: AuthorizationServer, tokens: object, per: object
) -> None:
    """A quota needs a positive whole number of tokens and a positive finite window."""
    with pytest.raises(ConfigError, match="quota"):
        server.set_quota(tokens, per)  # type: ignore[arg-type]


def test_the_quotas_set_are_listed_per_issuer() -> None:
    """``quotas`` lists the default quota under None and each client's by id, per issuer."""
    server = AuthorizationServer()
    server.set_quota(5, 60)
    server.set_quota(1, 3600, client_id="billing")
    tenant = server.tenant("tenant-a")

    assert server.quotas == {None: Quota(5, 60.0), "billing": Quota(1, 3600.0)}
    assert tenant.quotas == {}
    server.clear_quotas()
    assert server.quotas == {}
