"""Certificate renewals that reach a source by another path than its own token requests.

A renewal learnt through a shared token cache, a ``ca`` bundle rotated under
the same client certificate, files caught while being rewritten, and the
token side's clients replaced by each version. Real TLS on loopback with
trustme certificates; the clock is moved by hand.
"""

from __future__ import annotations

import datetime
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Files, Pair, issued, server_context, serving
from tokensources import InMemoryShared, TokenAuth, buffer, retry, reuse
from tokensources.shared import SharedStore
from tokensources.sources._mutual_tls import MutualTLS
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT_ID = "billing"
LIFETIME = 3600.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the server's certificate and of the client certificates."""
    return trustme.CA()


@dataclass
class World:
    """The testing server over HTTPS, the certificate files, and a way to make sources."""

    server: AuthorizationServer
    files: Files
    api_url: str
    make: Callable[[], MutualTLS]


@asynccontextmanager
async def world(
    tmp_path: Path,
    ca: trustme.CA,
    clock: FakeClock,
    tls: ssl.SSLContext | None = None,
    first: Pair | None = None,
) -> AsyncIterator[World]:
    """Serve HTTPS (``tls``, or one from ``ca``) with a registered client; yield the world."""
    files = Files(tmp_path / "tls.crt", tmp_path / "tls.key")
    first = first or issued(ca)
    files.write(first)
    server = AuthorizationServer(clock=clock, register_demo_client=False, token_lifetime=LIFETIME)
    server.register_tls_client(CLIENT_ID, subject_dn=first.subject)
    async with serving(server, tls or server_context(ca)) as token_url:

        def make() -> MutualTLS:
            return MutualTLS(
                token_url,
                CLIENT_ID,
                certificate=files.certificate,
                private_key=files.key,
                ca=ca.cert_pem.bytes(),
                clock=clock,
            )

        yield World(server, files, token_url.replace("/oauth/token", "/api/private"), make)


async def test_a_renewal_learnt_through_a_shared_cache_costs_no_401(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock
) -> None:
    """Two sources on the same files share a token; the one that never refreshes follows too.

    After the renewal the refreshing source fetches a token bound to the new
    certificate; the other source's transport learns the renewal from that
    token (it looks at the files) and presents the new certificate with it.
    """
    with anyio.fail_after(30):
        async with world(tmp_path, ca, clock) as w:
            refreshing, sharing = w.make(), w.make()
            store = SharedStore()
            first = InMemoryShared(buffer(refreshing, 300, clock=clock), store=store, clock=clock)
            second = InMemoryShared(buffer(sharing, 300, clock=clock), store=store, clock=clock)
            assert first.identity == second.identity
            auth = TokenAuth(second, clock=clock)
            async with refreshing, sharing, first, second:
                async with httpx.AsyncClient(transport=sharing.transport(), auth=auth) as api:
                    assert (await api.get(w.api_url)).status_code == 200
                    w.files.write(issued(ca))
                    clock.advance(LIFETIME - 200)  # the soft window: a refresh, by `refreshing`
                    statuses = [(await api.get(w.api_url)).status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert w.server.counters.api_unauthorized == 0
    assert w.server.counters.tokens_issued == 2


async def test_a_rotated_ca_bundle_reaches_the_api_transport(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock
) -> None:
    """The server moves to a certificate from a new CA, the bundle file lists both: requests follow.

    Each request makes a new handshake (no keep-alive), so a transport
    still holding the old bundle's context would fail to verify the server.
    """
    new_ca = trustme.CA()
    tls = server_context(ca)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.cert_pem.bytes())
    with anyio.fail_after(30):
        async with world(tmp_path, ca, clock, tls) as w:
            source = MutualTLS(
                w.api_url.replace("/api/private", "/oauth/token"),
                CLIENT_ID,
                certificate=w.files.certificate,
                private_key=w.files.key,
                ca=bundle,
                clock=clock,
            )
            no_pool = httpx.Limits(max_keepalive_connections=0)
            async with source, httpx.AsyncClient(transport=source.transport(limits=no_pool)) as api:
                token = await source.token()
                headers = {"Authorization": f"Bearer {token.access_token}"}
                assert (await api.get(w.api_url, headers=headers)).status_code == 200
                new_ca.issue_cert("127.0.0.1").configure_cert(tls)
                bundle.write_bytes(ca.cert_pem.bytes() + new_ca.cert_pem.bytes())
                token = await source.token()  # the token request sees the new bundle
                headers = {"Authorization": f"Bearer {token.access_token}"}
                assert (await api.get(w.api_url, headers=headers)).status_code == 200


async def test_files_caught_mid_rewrite_do_not_fail_token_requests(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock
) -> None:
    """A certificate written before its key, then absent: tokens still come, with the held one."""
    with anyio.fail_after(30):
        async with world(tmp_path, ca, clock) as w:
            source = w.make()
            async with source:
                held = source.certificate_thumbprint
                w.files.certificate.write_bytes(issued(ca).certificate)
                assert (await source.token()).access_token
                assert (await retry(source).token()).access_token
                w.files.certificate.unlink()
                assert (await source.token()).access_token
                assert source.certificate_thumbprint == held
    assert w.server.counters.tokens_issued == 3


async def test_token_clients_replaced_by_new_versions_are_closed(
    tmp_path: Path, ca: trustme.CA, clock: FakeClock
) -> None:
    """Renewals and identical rewrites: no replaced client (nor its connections) stays open."""
    with anyio.fail_after(60):
        async with world(tmp_path, ca, clock) as w:
            source = w.make()
            renewals = [issued(ca) for _ in range(4)]
            async with source:
                clients: list[httpx.AsyncClient] = []
                written = [renewals[0]] * 2 + [renewals[1]] * 2 + [renewals[2]] * 3 + renewals[3:]
                for pair in written:
                    w.files.write(pair)  # a renewal, or the same bytes written again
                    await source.token()
                    client = source._http._client
                    assert client is not None
                    if client not in clients:
                        clients.append(client)
                assert source._http._retired == []
                assert [each.is_closed for each in clients[:-1]] == [True] * (len(clients) - 1)
                assert len(clients) == 4  # one per version, none per identical rewrite


async def test_a_token_capped_at_the_certificate_end_is_not_refetched_in_vain(
    tmp_path: Path, ca: trustme.CA
) -> None:
    """Ten minutes of certificate left, a call a second: one token, until the renewal.

    Every new token would be capped at the same instant, so the cache's
    refreshes ahead of expiry get the same token back instead of a request
    each; once the files are renewed, the next refresh requests a new one.
    """
    clock = FakeClock(time.time())  # the handshake checks validity on the real clock
    start = datetime.datetime.fromtimestamp(clock.now - 3600, datetime.timezone.utc)
    end = datetime.datetime.fromtimestamp(clock.now + 600, datetime.timezone.utc)
    with anyio.fail_after(60):
        async with world(
            tmp_path, ca, clock, first=issued(ca, not_before=start, not_after=end)
        ) as w:
            source = w.make()
            async with source, reuse(buffer(source, clock=clock), clock=clock) as cached:
                tokens = set()
                for _ in range(590):
                    tokens.add((await cached.token()).access_token)
                    clock.advance(1)
                assert (len(tokens), w.server.counters.tokens_issued) == (1, 1)
                w.files.write(issued(ca))
                # Past the held token's end: the next call waits for the refresh,
                # which the renewed files let request a new token.
                clock.advance(10)
                after = [(await cached.token()).access_token for _ in range(3)]
    assert after[-1] not in tokens
    assert w.server.counters.tokens_issued == 2
