"""TokenAuth sends DPoP for bound tokens: a fresh proof per send, one nonce retry, nonces by origin.

Against the testing server's ``/api/private`` (in-process, and on loopback
for the sync client), which checks every proof with ``tokensources.verify``'s
checker. The wire-format cases a real server does not produce on demand (a
server that asks for a nonce forever, a streaming body) use
``httpx.MockTransport``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ClientCredentials, ConfigError, DPoPKey, Static, Token, TokenAuth, reuse
from tokensources.sources._dpop_key import access_token_hash
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._dpop import TokenEndpointDPoP
from tokensources.testing._inprocess import InProcessTransport
from tokensources.wrappers import Reuse
from tokensources.wrappers._hooks import event_counts

STORM = 1_000
PRIVATE = "/api/private"
NONCE_CHALLENGE = 'DPoP error="use_dpop_nonce", error_description="nonce"'


def _retries() -> int:
    return event_counts().get("dpop_nonce_retry", 0)


def _source(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, key: DPoPKey | None
) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            scopes=["read:messages"],
            dpop=key,
            http=http,
            clock=clock,
            allow_insecure_http=True,
        ),
        clock=clock,
    )


class Sent:
    """Every request a client sent, as it went out (a copy of its headers)."""

    def __init__(self) -> None:
        self.headers: list[httpx.Headers] = []

    async def __call__(self, request: httpx.Request) -> None:
        """Record ``request``'s headers."""
        self.headers.append(httpx.Headers(request.headers))


class InFlight(httpx.AsyncBaseTransport):
    """The server in-process, but every request gives way once before it arrives.

    In-process, a request is answered before the next task runs; on a
    network, a burst is in flight together. One checkpoint before each
    request makes a burst reach the server together, as it would.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Give way once, then forward ``request``."""
        await anyio.lowlevel.checkpoint()
        return await self._inner.handle_async_request(request)


@pytest.fixture
async def api(
    server: AuthorizationServer, clock: FakeClock, anyio_backend: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Sent, DPoPKey]]:
    """An API client whose TokenAuth draws DPoP-bound tokens, recording what it sends."""
    key = DPoPKey.generate(clock=clock)
    sent = Sent()
    async with server.client() as token_http:
        auth = TokenAuth(_source(server, token_http, clock, key), clock=clock)
        transport = InFlight(InProcessTransport(app=server))
        hooks = {"request": [sent]}
        async with server.client(auth=auth, event_hooks=hooks, transport=transport) as client:
            yield client, sent, key


@pytest.mark.anyio
async def test_a_bound_token_goes_out_as_dpop_with_a_proof(
    server: AuthorizationServer, api: tuple[httpx.AsyncClient, Sent, DPoPKey]
) -> None:
    """Authorization: DPoP, a proof with htm, htu and ath; the API accepts it and logs the jkt."""
    client, sent, key = api

    response = await client.get(PRIVATE, params={"page": "2"})

    assert response.status_code == 200
    headers = sent.headers[-1]
    scheme, token = headers["authorization"].split(" ")
    assert scheme == "DPoP"
    claims = jwt.decode(headers["dpop"], options={"verify_signature": False})
    assert claims["htm"] == "GET"
    assert claims["htu"].endswith(PRIVATE)
    assert claims["ath"] == access_token_hash(token)
    assert server.log.requests(endpoint="api")[-1].dpop_jkt == key.thumbprint


@pytest.mark.anyio
async def test_a_cold_storm_costs_one_nonce_retry_per_origin(
    server: AuthorizationServer,
    dpop: TokenEndpointDPoP,
    api: tuple[httpx.AsyncClient, Sent, DPoPKey],
) -> None:
    """1 000 concurrent API calls with nonces demanded: one nonce retry and one token, not 1 000."""
    client, _, _ = api
    dpop.api.require_nonce = True
    before = _retries()
    statuses: list[int] = []

    async def call() -> None:
        statuses.append((await client.get(PRIVATE)).status_code)

    async with anyio.create_task_group() as group:
        for _ in range(STORM):
            group.start_soon(call)

    assert statuses == [200] * STORM
    assert _retries() - before == 1
    assert dpop.api.counters.nonce_challenges == 1
    assert dpop.api.counters.accepted == STORM
    assert server.counters.tokens_issued == 1


@pytest.mark.anyio
async def test_a_nonce_rotation_costs_one_retry(
    server: AuthorizationServer,
    dpop: TokenEndpointDPoP,
    api: tuple[httpx.AsyncClient, Sent, DPoPKey],
) -> None:
    """After a rotation the next request retries once; a storm after it needs none."""
    client, _, _ = api
    dpop.api.require_nonce = True
    assert (await client.get(PRIVATE)).status_code == 200
    before = _retries()

    dpop.rotate_nonce()
    assert (await client.get(PRIVATE)).status_code == 200
    after_rotation = _retries() - before
    async with anyio.create_task_group() as group:
        for _ in range(STORM // 10):
            group.start_soon(client.get, PRIVATE)

    assert after_rotation == 1
    assert _retries() - before == 1
    assert server.counters.tokens_issued == 1


@pytest.mark.anyio
async def test_a_nonce_challenge_rejects_nothing(
    server: AuthorizationServer,
    dpop: TokenEndpointDPoP,
    api: tuple[httpx.AsyncClient, Sent, DPoPKey],
) -> None:
    """The 401 for a nonce costs no token request and no rejection backoff."""
    client, sent, _ = api
    await client.get(PRIVATE)
    dpop.api.require_nonce = True
    issued = server.counters.tokens_issued

    response = await client.get(PRIVATE)

    assert response.status_code == 200
    assert server.counters.tokens_issued == issued
    first, resend = sent.headers[-2], sent.headers[-1]
    assert first["authorization"] == resend["authorization"]
    assert first["dpop"] != resend["dpop"]  # a fresh proof, now with the nonce
    assert "nonce" in jwt.decode(resend["dpop"], options={"verify_signature": False})


@pytest.mark.anyio
async def test_a_bearer_token_never_carries_a_proof(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """Without a key, and with a key at a server that answers Bearer: no DPoP header at all."""
    dpop.supported = False  # the server ignores proofs and issues bearer tokens
    for key in (None, DPoPKey.generate(clock=clock)):
        sent = Sent()
        auth = TokenAuth(_source(server, http, clock, key), clock=clock)
        async with server.client(auth=auth, event_hooks={"request": [sent]}) as client:
            assert (await client.get(PRIVATE)).status_code == 200
        assert sent.headers[-1]["authorization"].startswith("Bearer ")
        assert "dpop" not in sent.headers[-1]


@pytest.mark.anyio
async def test_a_bound_token_presented_as_bearer_is_refused(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """RFC 9449 §7.2: the API refuses a DPoP-bound token sent without its proof."""
    token = await _source(server, http, clock, DPoPKey.generate(clock=clock)).token()

    response = await http.get(PRIVATE, headers={"Authorization": f"Bearer {token.access_token}"})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.anyio
async def test_a_wrong_proof_is_answered_with_a_dpop_challenge(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A proof signed by another key: 401 with WWW-Authenticate: DPoP error="invalid_dpop_proof"."""
    token = await _source(server, http, clock, DPoPKey.generate(clock=clock)).token()
    other = DPoPKey.generate(clock=clock)
    url = str(http.base_url.join(PRIVATE))
    proof = other.proof("GET", url, access_token=token.access_token)

    response = await http.get(
        PRIVATE, headers={"Authorization": f"DPoP {token.access_token}", "DPoP": proof}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'DPoP error="invalid_dpop_proof"'


# Wire-format cases, on MockTransport.


def _bound_static(key: DPoPKey) -> Static:
    return Static(Token("bound-token", token_type="DPoP", jkt=key.thumbprint))


class AlwaysNonce:
    """An API that answers every request with a nonce challenge and a new nonce."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """A 401 nonce challenge, with a nonce never seen before."""
        self.calls += 1
        headers = {"WWW-Authenticate": NONCE_CHALLENGE, "DPoP-Nonce": f"n{self.calls}"}
        return httpx.Response(401, headers=headers)


@pytest.mark.anyio
async def test_a_server_that_keeps_asking_costs_two_sends_and_no_invalidation() -> None:
    """Two sends, the second 401 returned as it is; the token is not thrown away."""
    key = DPoPKey.generate()
    api = AlwaysNonce()
    source = _bound_static(key)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(api), auth=TokenAuth(source)
    ) as client:
        response = await client.get("https://api.example/x")
        again = await client.get("https://api.example/x")

    assert response.status_code == again.status_code == 401
    assert api.calls == 4


@pytest.mark.anyio
async def test_a_body_that_cannot_be_replayed_is_not_resent() -> None:
    """A streaming upload answered with a nonce challenge: one send, the 401 returned."""
    key = DPoPKey.generate()
    api = AlwaysNonce()

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(api), auth=TokenAuth(_bound_static(key))
    ) as client:
        response = await client.post("https://api.example/x", content=body())

    assert response.status_code == 401
    assert api.calls == 1


@pytest.mark.anyio
async def test_a_token_bound_to_a_key_not_loaded_is_refused() -> None:
    """A bound token whose key is not loaded here: a ConfigError that never shows the token."""
    source = Static(Token("secret-at", token_type="DPoP", jkt="x" * 43))
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        auth=TokenAuth(source),
    ) as client:
        with pytest.raises(ConfigError, match="not loaded") as caught:
            await client.get("https://api.example/x")

    assert "secret-at" not in str(caught.value)


# The sync client, on loopback.


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a background thread."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_sync_client_sends_dpop_and_retries_a_nonce_once(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """httpx.Client: a proof on every send, one nonce retry, then accepted."""
    server, base = served
    server.dpop.api.require_nonce = True
    key = DPoPKey.generate()
    source = reuse(
        ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            scopes=["read:messages"],
            dpop=key,
        )
    )
    before = _retries()
    with TokenAuth(source, portal_backend=backend) as auth, httpx.Client(auth=auth) as client:
        first = client.get(base + PRIVATE)
        second = client.get(base + PRIVATE)

    assert first.status_code == second.status_code == 200
    assert _retries() - before == 1
    assert server.dpop.api.counters.accepted == 2


@pytest.mark.anyio
async def test_a_redirect_on_the_origin_is_sent_again_with_a_proof_of_its_own(
    server: AuthorizationServer,
    dpop: TokenEndpointDPoP,
    api: tuple[httpx.AsyncClient, Sent, DPoPKey],
) -> None:
    """follow_redirects: httpx copies the proof onto the next hop; TokenAuth resends it there."""
    client, sent, _ = api
    dpop.api.require_nonce = True
    assert (await client.get(PRIVATE)).status_code == 200  # the nonce is known from here on

    moved = await client.get("/api/redirect", follow_redirects=True)

    assert moved.status_code == 200
    assert str(moved.request.url).endswith(PRIVATE)
    proofs = [jwt.decode(h["dpop"], options={"verify_signature": False}) for h in sent.headers]
    assert proofs[-1]["htu"].endswith(PRIVATE)
    assert proofs[-1]["jti"] not in {proof["jti"] for proof in proofs[:-1]}  # a fresh one
    assert [proof["htu"].rsplit("/", 1)[-1] for proof in proofs[-3:]] == [
        "redirect",  # the redirect's own request
        "redirect",  # the copy httpx sends to where it leads: refused
        "private",  # sent again by TokenAuth, with a proof of its own
    ]
    assert server.counters.tokens_issued == 1


@pytest.mark.anyio
async def test_a_refused_proof_rejects_nothing(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """invalid_dpop_proof (the client clock went minutes off): the 401 as it is, the token kept."""
    skewed = FakeClock(clock.now)
    source = _source(server, http, clock, DPoPKey.generate(clock=skewed))
    await source.token()
    skewed.advance(-600)
    async with server.client(auth=TokenAuth(source, clock=clock)) as client:
        answers = [await client.get(PRIVATE) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [401, 401]
    assert 'error="invalid_dpop_proof"' in answers[0].headers["www-authenticate"]
    assert server.counters.tokens_issued == 1
