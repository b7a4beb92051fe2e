"""AuthStyle.AUTO remembers a secret refused in both styles, instead of probing on every call.

A revoked secret under AUTO used to cost two requests per call, forever. Now
the refusal is remembered per token URL, client id and secret: later calls
send one request, in the style tried first, until ``REFUSAL_MEMORY``
seconds have passed; another secret (a rotated one) or another client is
probed afresh; a success forgets the refusal.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import AuthStyle, ClientCredentials, TokenEndpointError
from tokensources.sources._auto_style import REFUSAL_MEMORY
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

TOKEN_URL = "http://testserver/oauth/token"
REVOKED = "revoked-s3cret-value"
CALLS = 200


def source(
    http: httpx.AsyncClient,
    clock: FakeClock,
    secret: str = REVOKED,
    client_id: str = DEMO_CLIENT_ID,
) -> ClientCredentials:
    return ClientCredentials(
        TOKEN_URL, client_id, secret, http=http, clock=clock, allow_insecure_http=True
    )


async def refused(cc: ClientCredentials) -> TokenEndpointError:
    with pytest.raises(TokenEndpointError) as caught:
        await cc.token()
    return caught.value


async def test_a_revoked_secret_costs_one_request_per_call_not_two(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """200 calls with a refused secret make 201 token requests: both styles once, then one each."""
    cc = source(http, clock)
    errors = [await refused(cc) for _ in range(CALLS)]
    assert server.counters.token_requests == CALLS + 1
    assert all(e.error == "invalid_client" and not e.transient for e in errors)
    assert errors[0].previous is not None  # the first call reports both answers
    assert "body style was refused too" in str(errors[-1])
    assert REVOKED not in str(errors[-1])


async def test_both_styles_are_probed_again_once_the_memory_has_passed(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """After REFUSAL_MEMORY seconds the other style is tried again, then remembered again."""
    cc = source(http, clock)
    await refused(cc)
    clock.advance(REFUSAL_MEMORY - 1)
    await refused(cc)
    assert server.counters.token_requests == 3
    clock.advance(2)
    error = await refused(cc)
    assert error.previous is not None
    assert server.counters.token_requests == 5
    await refused(cc)
    assert server.counters.token_requests == 6


async def test_a_rotated_secret_and_another_client_are_probed_afresh(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """The memory is per secret and client id: a different one of either probes both styles."""
    server.register_client("other-client", "other-secret")
    await refused(source(http, clock))
    assert server.counters.token_requests == 2
    await refused(source(http, clock, secret="rotated-but-wrong"))
    assert server.counters.token_requests == 4
    await refused(source(http, clock, client_id="other-client"))
    assert server.counters.token_requests == 6
    await refused(source(http, clock))  # the first secret is still remembered
    assert server.counters.token_requests == 7


async def test_a_secret_accepted_again_is_forgotten_as_refused(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Once the provider accepts the secret again, a later refusal probes both styles anew."""
    cc = source(http, clock)
    await refused(cc)
    server.register_client(DEMO_CLIENT_ID, REVOKED)  # re-enabled with this secret
    assert (await cc.token()).access_token
    assert server.counters.token_requests == 3
    server.register_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)  # revoked again
    error = await refused(cc)
    assert error.previous is not None
    assert server.counters.token_requests == 5


async def test_a_clock_set_back_does_not_stretch_the_memory(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A wall clock moved back by hours does not keep the other style untried for hours."""
    cc = source(http, clock)
    await refused(cc)
    clock.advance(-3 * 3600)
    error = await refused(cc)
    assert error.previous is not None
    assert server.counters.token_requests == 4


@pytest.mark.parametrize("style", [AuthStyle.HEADER, AuthStyle.BODY])
async def test_a_fixed_style_sends_one_request_per_call(
    style: AuthStyle, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """HEADER and BODY never probe: one request per call, refused or not."""
    cc = ClientCredentials(
        TOKEN_URL, DEMO_CLIENT_ID, REVOKED, auth_style=style, http=http, clock=clock,
        allow_insecure_http=True,
    )  # fmt: skip
    for _ in range(3):
        await refused(cc)
    assert server.counters.token_requests == 3
