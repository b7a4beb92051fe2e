"""MutualTLS.transport(): no request ever pairs a token with a certificate it is not bound to.

Real TLS on loopback with trustme certificates; the testing server's
``/api/private`` refuses a bound token presented without its certificate.
The certificate files are renewed on disk between requests and the clock
is moved by hand.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import jwt
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Files, Pair, issued, server_context, serving
from tokensources import ConfigError, Token, TokenAuth, buffer, reuse
from tokensources.sources._mutual_tls import MutualTLS
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT_ID = "billing"
LIFETIME = 3600.0
REQUESTS = 200
# Token requests and handshakes through a bounded pool: the run stays short.
LIMITS = httpx.Limits(max_connections=20)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the server's certificate and of the client certificates."""
    return trustme.CA()


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server without the demo client, on the fake clock."""
    return AuthorizationServer(clock=clock, register_demo_client=False, token_lifetime=LIFETIME)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """Empty certificate and key paths in a private directory."""
    return Files(tmp_path / "tls.crt", tmp_path / "tls.key")


@asynccontextmanager
async def api_world(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock, first: Pair
) -> AsyncIterator[tuple[MutualTLS, str]]:
    """Serve HTTPS; yield a MutualTLS source reading ``files`` (now ``first``) and the API URL."""
    files.write(first)
    server.register_tls_client(CLIENT_ID, subject_dn=first.subject)
    async with serving(server, server_context(ca)) as token_url:
        source = MutualTLS(
            token_url,
            CLIENT_ID,
            certificate=files.certificate,
            private_key=files.key,
            ca=ca.cert_pem.bytes(),
            clock=clock,
        )
        async with source:
            yield source, token_url.replace("/oauth/token", "/api/private")


def cnf(token: str) -> str:
    """The x5t#S256 a token is bound to."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["cnf"]["x5t#S256"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_renewal_under_load_costs_no_401(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """200 requests while the files are renewed: all succeed, no 401, one token per certificate.

    A quarter of the first 100 answered, the files are renewed and the
    clock enters the first token's soft window; 50 more requests start
    (one of them refreshes, the others still carry the first token); once
    the token bound to the new certificate arrives, the last 50 start.
    Requests of every phase are in flight together.
    """
    first, second = issued(ca), issued(ca)
    answered: list[tuple[int, str]] = []  # (status, the certificate its token was bound to)
    quarter, renewed, refreshed = anyio.Event(), anyio.Event(), anyio.Event()
    with anyio.fail_after(60):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            old = source.certificate_thumbprint
            tokens = []

            def arrived(token: Token) -> None:
                tokens.append(token)
                if len(tokens) == 2:
                    refreshed.set()

            cached = reuse(buffer(source, 300, clock=clock), clock=clock, on_token=arrived)
            client = httpx.AsyncClient(
                transport=source.transport(limits=LIMITS), auth=TokenAuth(cached, clock=clock)
            )

            async def call(number: int) -> None:
                if number >= REQUESTS * 3 // 4:
                    await refreshed.wait()
                elif number >= REQUESTS // 2:
                    await renewed.wait()
                answer = await client.get(api_url)
                sent = answer.request.headers["authorization"].partition(" ")[2]
                answered.append((answer.status_code, cnf(sent)))
                if len(answered) == REQUESTS // 4:
                    quarter.set()

            async def renew() -> None:
                await quarter.wait()
                files.write(second)
                clock.advance(LIFETIME - 200)  # into the first token's soft window
                renewed.set()

            async with client, cached, anyio.create_task_group() as tasks:
                tasks.start_soon(renew)
                for number in range(REQUESTS):
                    tasks.start_soon(call, number)
            new = source.certificate_thumbprint
    assert [status for status, _ in answered] == [200] * REQUESTS
    assert server.counters.api_unauthorized == 0
    assert server.counters.tokens_issued == 2
    assert [cnf(token.access_token) for token in tokens] == [old, new]
    bound_to = [binding for _, binding in answered]
    assert bound_to.count(new) >= REQUESTS // 4  # the last phase, at least: over the new one
    assert bound_to.count(old) > REQUESTS // 2  # beyond the renewal: over the old one


async def test_each_token_goes_over_its_own_certificate(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """After a renewal, tokens bound to either certificate, or unbound, go over one that fits."""
    first, second = issued(ca), issued(ca)
    with anyio.fail_after(20):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            old = await source.token()
            files.write(second)
            new = await source.token()  # requested with, and bound to, the renewed certificate
            unbound = server.issue_token(CLIENT_ID, scope="read:messages")
            async with httpx.AsyncClient(transport=source.transport()) as client:
                statuses = [
                    (await client.get(api_url, headers=bearer(token))).status_code
                    for token in (old.access_token, new.access_token, unbound, old.access_token)
                ]
    assert cnf(old.access_token) != cnf(new.access_token) == source.certificate_thumbprint
    assert statuses == [200, 200, 200, 200]
    assert server.counters.api_unauthorized == 0


async def test_a_token_bound_to_a_certificate_no_longer_held_is_refreshed(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """Two renewals later the oldest token goes over the current certificate; TokenAuth recovers."""
    first, second, third = issued(ca), issued(ca), issued(ca)
    with anyio.fail_after(20):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            async with (
                reuse(source, clock=clock) as cached,
                httpx.AsyncClient(
                    transport=source.transport(), auth=TokenAuth(cached, clock=clock)
                ) as client,
            ):
                oldest = await cached.token()
                assert (await client.get(api_url)).status_code == 200
                for renewal in (second, third):
                    files.write(renewal)
                    await source.token()  # a token request (of another holder) sees it
                unbound = server.issue_token(CLIENT_ID, scope="read:messages")
                assert (await client.get(api_url, headers=bearer(unbound), auth=None)).is_success
                answer = await client.get(api_url)  # the cache still holds `oldest`
                current = await cached.token()
    assert answer.status_code == 200
    assert server.counters.api_unauthorized == 1  # the one documented 401, then a fresh token
    assert cnf(oldest.access_token) != cnf(current.access_token) == source.certificate_thumbprint


async def test_closing_the_client_closes_every_certificate_pool(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """Pools of the old and the new certificate are closed with the client: no ResourceWarning."""
    first, second = issued(ca), issued(ca)
    with anyio.fail_after(20):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            old = await source.token()
            transport = source.transport()
            client = httpx.AsyncClient(transport=transport)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                async with client:
                    files.write(second)
                    new = await source.token()
                    for token in (old, new):
                        answer = await client.get(api_url, headers=bearer(token.access_token))
                        assert answer.status_code == 200
                with pytest.raises(RuntimeError, match="closed"):
                    await transport.handle_async_request(httpx.Request("GET", api_url))
                del client, transport
                gc.collect()
    assert [str(each.message) for each in caught if each.category is ResourceWarning] == []


def test_the_transport_keeps_its_own_tls_settings(ca: trustme.CA) -> None:
    """verify= and cert= belong to the certificate: refused with a ConfigError."""
    pair = issued(ca)
    source = MutualTLS(
        "https://idp.example.com/token",
        CLIENT_ID,
        certificate=pair.certificate,
        private_key=pair.key,
        ca=ca.cert_pem.bytes(),
    )
    with pytest.raises(ConfigError, match="verify"):
        source.transport(verify=False)
    with pytest.raises(ConfigError, match="cert"):
        source.sync_transport(cert="client.pem")


async def test_the_sync_transport_routes_the_same_way(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """httpx.Client through sync_transport(): each token over its certificate; closed with it."""
    first, second = issued(ca), issued(ca)
    with anyio.fail_after(20):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            old = await source.token()
            files.write(second)
            new = await source.token()
            tokens = (old.access_token, new.access_token, old.access_token)

            def send() -> list[int]:
                with httpx.Client(transport=source.sync_transport()) as client:
                    return [client.get(api_url, headers=bearer(t)).status_code for t in tokens]

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                statuses = await anyio.to_thread.run_sync(send)
                gc.collect()
    assert statuses == [200, 200, 200]
    assert [str(each.message) for each in caught if each.category is ResourceWarning] == []


async def test_a_renewal_costs_no_401_with_the_sync_client_either(
    server: AuthorizationServer, ca: trustme.CA, files: Files, clock: FakeClock
) -> None:
    """httpx.Client with TokenAuth through a renewal: every request succeeds, one token each."""
    first, second = issued(ca), issued(ca)
    with anyio.fail_after(30):
        async with api_world(server, ca, files, clock, first) as (source, api_url):
            cached = reuse(buffer(source, 300, clock=clock), clock=clock)

            def send() -> list[int]:
                with (
                    TokenAuth(cached, clock=clock) as auth,
                    httpx.Client(transport=source.sync_transport(), auth=auth) as client,
                ):
                    statuses = [client.get(api_url).status_code]
                    files.write(second)
                    statuses.append(client.get(api_url).status_code)  # the old token, old pool
                    clock.advance(LIFETIME - 200)  # into the soft window: a refresh
                    statuses += [client.get(api_url).status_code for _ in range(3)]
                    return statuses

            statuses = await anyio.to_thread.run_sync(send)
            thumbprint = source.certificate_thumbprint
    assert statuses == [200] * 5
    assert server.counters.api_unauthorized == 0
    assert server.counters.tokens_issued == 2
    issued_to = [cnf_of(claims) for claims in server.log.issued_tokens()]
    assert issued_to[-1] == thumbprint != issued_to[0]


def cnf_of(claims: object) -> str:
    assert isinstance(claims, Mapping)
    return str(claims["cnf"]["x5t#S256"])
