"""MutualTLS and certificate-bound tokens against the testing server over real TLS on loopback."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import anyio
import httpx
import jwt
import pytest
import trustme

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, issued, self_signed, server_context, serving
from tokensources import Token, TokenEndpointError, TokenRequestError, retry
from tokensources.sources._mutual_tls import MutualTLS
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT_ID = "billing"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the server's certificate and of the CA-issued client certificates."""
    return trustme.CA()


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server without the demo client, on the fake clock."""
    return AuthorizationServer(clock=clock, register_demo_client=False)


def mutual_tls(token_url: str, pair: Pair, ca: trustme.CA, **kwargs: object) -> MutualTLS:
    return MutualTLS(
        token_url,
        CLIENT_ID,
        certificate=pair.certificate,
        private_key=pair.key,
        ca=ca.cert_pem.bytes(),
        **kwargs,  # type: ignore[arg-type]
    )


def cnf(token: str) -> str:
    """The x5t#S256 a token is bound to."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["cnf"]["x5t#S256"])


async def test_tls_client_auth_gets_a_token_bound_to_the_certificate(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A CA-issued certificate with the registered subject DN gets a token bound to it."""
    pair = issued(ca)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            async with mutual_tls(token_url, pair, ca) as source:
                token = await source.token()
    assert cnf(token.access_token) == source.certificate_thumbprint
    [logged] = server.log.token_requests()
    assert (logged.auth_method, logged.outcome) == ("tls_client_auth", "issued")
    assert logged.certificate_thumbprint == source.certificate_thumbprint


async def test_the_bound_token_works_only_with_its_certificate(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """/api/private accepts the bound token over ssl_context(), not with another certificate."""
    pair = issued(ca)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    other = mutual_tls("https://127.0.0.1/oauth/token", issued(ca, "other"), ca)
    no_certificate = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            source = mutual_tls(token_url, pair, ca)
            token = await source.token()
            api = token_url.replace("/oauth/token", "/api/private")
            headers = {"Authorization": f"Bearer {token.access_token}"}
            statuses = []
            for context in (source.ssl_context(), other.ssl_context(), no_certificate):
                async with httpx.AsyncClient(verify=context) as client:
                    statuses.append((await client.get(api, headers=headers)).status_code)
            await source.aclose()
    assert statuses == [200, 401, 401]


async def test_self_signed_tls_client_auth(server: AuthorizationServer, ca: trustme.CA) -> None:
    """A registered self-signed certificate authenticates; its token is bound to it."""
    pair = self_signed()
    server.register_tls_client(CLIENT_ID, certificate=pair.certificate)
    with anyio.fail_after(20):
        async with serving(server, server_context(ca, pair.certificate)) as token_url:
            async with mutual_tls(token_url, pair, ca) as source:
                token = await source.token()
    assert cnf(token.access_token) == source.certificate_thumbprint
    assert server.log.token_requests()[0].auth_method == "self_signed_tls_client_auth"


@pytest.mark.parametrize("registered", ["subject", "certificate"])
async def test_a_certificate_that_is_not_the_registered_one_is_invalid_client(
    registered: str, server: AuthorizationServer, ca: trustme.CA
) -> None:
    """Another DN, or a certificate that is not the registered one, is refused."""
    if registered == "subject":
        server.register_tls_client(CLIENT_ID, subject_dn="CN=someone-else,O=Example")
    else:
        server.register_tls_client(CLIENT_ID, certificate=self_signed().certificate)
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            async with mutual_tls(token_url, issued(ca), ca) as source:
                with pytest.raises(TokenEndpointError) as caught:
                    await source.token()
    assert caught.value.error == "invalid_client"


async def test_a_renewed_certificate_gives_a_new_context_and_a_new_binding(
    server: AuthorizationServer, ca: trustme.CA, tmp_path: Path
) -> None:
    """Certificate files renewed in place: a new ssl_context() and a token bound to the new one."""
    first, second = issued(ca), issued(ca)
    assert first.subject == second.subject
    server.register_tls_client(CLIENT_ID, subject_dn=first.subject)
    certificate, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    certificate.write_bytes(first.certificate)
    key.write_bytes(first.key)
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            source = MutualTLS(
                token_url,
                CLIENT_ID,
                certificate=certificate,
                private_key=key,
                ca=ca.cert_pem.bytes(),
            )
            before, old_context = await source.token(), source.ssl_context()
            assert source.ssl_context() is old_context  # unchanged files: the same context
            key.write_bytes(second.key)
            certificate.write_bytes(second.certificate)
            after, new_context = await source.token(), source.ssl_context()
            await source.aclose()
    assert new_context is not old_context
    assert not source.bound_to_current(before)  # to be invalidated, not presented
    assert source.bound_to_current(after)
    assert cnf(before.access_token) != cnf(after.access_token)
    assert cnf(after.access_token) == source.certificate_thumbprint
    assert server.counters.tokens_issued == 2


async def test_a_bound_token_never_outlives_its_certificate(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A certificate ending before the token does caps the token's expiry at its own."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ending = now + datetime.timedelta(minutes=30)
    pair = issued(ca, not_before=now - datetime.timedelta(hours=1), not_after=ending)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    server.token_lifetime = 3600
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            async with mutual_tls(token_url, pair, ca) as source:
                token = await source.token()
    assert token.expires_at == int(ending.timestamp())
    assert token.refresh_at is None or token.refresh_at <= token.expires_at


async def test_a_server_certificate_not_trusted_by_ca_is_a_request_error(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A token endpoint whose certificate ca does not vouch for fails verification, said so."""
    pair = issued(ca)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    stranger = trustme.CA()
    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            async with mutual_tls(token_url, pair, stranger) as source:
                with pytest.raises(TokenRequestError, match="CERTIFICATE_VERIFY_FAILED"):
                    await source.token()
    assert server.counters.token_requests == 0


async def test_an_untrusted_server_certificate_is_not_retried(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """CERTIFICATE_VERIFY_FAILED is configuration: permanent, so retry() makes one attempt."""
    pair = issued(ca)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with anyio.fail_after(20):
        async with serving(server, server_context(ca)) as token_url:
            source = mutual_tls(token_url, pair, trustme.CA())
            attempts = Counting(source)
            async with source:
                with pytest.raises(TokenRequestError, match="CERTIFICATE_VERIFY_FAILED") as caught:
                    await retry(attempts, attempts=4, sleep=sleep).token()
    assert caught.value.transient is False
    assert (attempts.calls, waits) == (1, [])


async def test_an_expired_server_certificate_is_transient(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A server certificate out of its validity is the server's to renew: worth another try."""
    pair = issued(ca)
    server.register_tls_client(CLIENT_ID, subject_dn=pair.subject)
    now = datetime.datetime.now(datetime.timezone.utc)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=2),
        not_after=now - datetime.timedelta(days=1),
    ).configure_cert(tls)
    with anyio.fail_after(20):
        async with serving(server, tls) as token_url:
            async with mutual_tls(token_url, pair, ca) as source:
                with pytest.raises(TokenRequestError, match="CERTIFICATE_VERIFY_FAILED") as caught:
                    await source.token()
    assert caught.value.transient is True


class Counting:
    """A source that counts the calls reaching ``inner``."""

    def __init__(self, inner: MutualTLS) -> None:
        self.inner = inner
        self.calls = 0

    async def token(self) -> Token:
        self.calls += 1
        return await self.inner.token()

    def invalidate(self, token: Token) -> None:
        self.inner.invalidate(token)


def test_from_issuer_prefers_the_mtls_alias() -> None:
    """Discovery's mtls_endpoint_aliases.token_endpoint wins over token_endpoint (RFC 8705 §5)."""
    metadata = {
        "token_endpoint": "https://idp.example.com/token",
        "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.idp.example.com/token"},
    }
    assert MutualTLS._settings_from_metadata(metadata, {}) == "https://mtls.idp.example.com/token"
    del metadata["mtls_endpoint_aliases"]
    assert MutualTLS._settings_from_metadata(metadata, {}) == "https://idp.example.com/token"


def test_the_metadata_announces_mutual_tls(server: AuthorizationServer) -> None:
    """The testing server lists both TLS methods, bound tokens and its mTLS alias."""
    document = server.metadata()
    methods = document["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["mtls_endpoint_aliases"] == {"token_endpoint": server.token_endpoint}


def test_the_shared_identity_names_the_certificate(ca: trustme.CA) -> None:
    """Two certificates never share an identity; the same one always does; no key in it."""
    pair, other = issued(ca), issued(ca)
    url = "https://idp.example.com/token"
    assert mutual_tls(url, pair, ca).cache_identity == mutual_tls(url, pair, ca).cache_identity
    assert mutual_tls(url, pair, ca).cache_identity != mutual_tls(url, other, ca).cache_identity
