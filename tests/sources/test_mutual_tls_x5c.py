"""self_signed_tls_client_auth registered as JWKs with x5c (RFC 8705 §2.2), over loopback TLS."""

from __future__ import annotations

import base64
import re
from typing import Any

import anyio
import httpx
import jwt
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.support.clock import FakeClock
from tests.support.mtls import Pair, self_signed, server_context, serving
from tokensources import ConfigError, MutualTLS, TokenEndpointError
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT_ID = "reports"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the server's own certificate (the clients' certificates are self-signed)."""
    return trustme.CA()


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server without the demo client, on the fake clock."""
    return AuthorizationServer(clock=clock, register_demo_client=False)


def x5c_jwk(pair: Pair, kid: str = "tls-1") -> dict[str, Any]:
    """The public JWK of a pair's key, carrying its certificate in x5c (standard base64 DER)."""
    certificate = x509.load_pem_x509_certificate(pair.certificate)
    der = certificate.public_bytes(serialization.Encoding.DER)
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)  # self_signed() makes P-256 keys
    public = ECAlgorithm.to_jwk(key, as_dict=True)
    return {**public, "kid": kid, "x5c": [base64.b64encode(der).decode("ascii")]}


def mutual_tls(token_url: str, pair: Pair, ca: trustme.CA) -> MutualTLS:
    return MutualTLS(
        token_url,
        CLIENT_ID,
        certificate=pair.certificate,
        private_key=pair.key,
        ca=ca.cert_pem.bytes(),
    )


def cnf(token: str) -> str:
    """The x5t#S256 a token is bound to."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims["cnf"]["x5t#S256"])


async def test_a_certificate_registered_in_x5c_gets_a_token_bound_to_it(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """The x5c certificate authenticates; the token is bound to it and works at /api/private."""
    pair = self_signed()
    server.register_tls_client(CLIENT_ID, jwks={"keys": [x5c_jwk(pair)]})
    with anyio.fail_after(20):
        async with serving(server, server_context(ca, pair.certificate)) as token_url:
            async with mutual_tls(token_url, pair, ca) as source:
                token = await source.token()
                api = token_url.replace("/oauth/token", "/api/private")
                async with httpx.AsyncClient(verify=source.ssl_context()) as client:
                    answer = await client.get(api, headers={"Authorization": token.authorization})
    assert answer.status_code == 200
    assert cnf(token.access_token) == source.certificate_thumbprint
    server.assert_token_requests(1, auth_method="self_signed_tls_client_auth", status=200)


async def test_every_certificate_of_the_set_authenticates(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A set of two keys (a rollover): each certificate gets a token bound to itself."""
    old, new = self_signed("reports-old"), self_signed("reports-new")
    server.register_tls_client(CLIENT_ID, jwks={"keys": [x5c_jwk(old, "1"), x5c_jwk(new, "2")]})
    bound = []
    with anyio.fail_after(20):
        context = server_context(ca, old.certificate, new.certificate)
        async with serving(server, context) as token_url:
            for pair in (old, new):
                async with mutual_tls(token_url, pair, ca) as source:
                    bound.append(cnf((await source.token()).access_token))
    assert len(set(bound)) == 2
    assert server.counters.tokens_issued == 2


async def test_a_certificate_outside_the_set_is_invalid_client(
    server: AuthorizationServer, ca: trustme.CA
) -> None:
    """A certificate the handshake accepts but no JWK's x5c holds is refused."""
    registered, stranger = self_signed(), self_signed("stranger")
    server.register_tls_client(CLIENT_ID, jwks=x5c_jwk(registered))  # one JWK, not a set
    with anyio.fail_after(20):
        context = server_context(ca, registered.certificate, stranger.certificate)
        async with serving(server, context) as token_url:
            async with mutual_tls(token_url, stranger, ca) as source:
                with pytest.raises(TokenEndpointError) as caught:
                    await source.token()
    assert caught.value.error == "invalid_client"
    assert server.counters.tokens_issued == 0


def _without_x5c(pair: Pair) -> dict[str, Any]:
    jwk = x5c_jwk(pair)
    del jwk["x5c"]
    return jwk


def _base64url_x5c(pair: Pair) -> dict[str, Any]:
    # Unpadded, with base64url's '-' and '_': x5c is standard base64 (RFC 7517 §4.7).
    jwk = x5c_jwk(pair)
    return {**jwk, "x5c": [jwk["x5c"][0].replace("=", "") + "-_"]}


def _another_certificate(pair: Pair) -> dict[str, Any]:
    return {**x5c_jwk(pair), "x5c": x5c_jwk(self_signed("other"))["x5c"]}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_without_x5c, "jwks key 0 ('tls-1') has no x5c"),
        (_base64url_x5c, "x5c[0] is not a base64 DER certificate"),
        (_another_certificate, "the x5c certificate's public key is not the JWK's"),
    ],
)
def test_an_unusable_x5c_is_refused_by_name(make: Any, message: str) -> None:
    """No x5c, an undecodable one, or a certificate of another key: a ConfigError naming it."""
    pair = self_signed()
    jwk = make(pair)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        AuthorizationServer().register_tls_client(CLIENT_ID, jwks={"keys": [jwk]})
    assert jwk.get("x", "-") not in str(caught.value)  # no key material in the message


def test_jwks_is_exclusive_with_the_other_registrations() -> None:
    """jwks with certificate or subject_dn, or a private JWK, is refused."""
    pair = self_signed()
    server = AuthorizationServer()
    with pytest.raises(ConfigError, match="give one of subject_dn"):
        server.register_tls_client(CLIENT_ID, jwks=x5c_jwk(pair), certificate=pair.certificate)
    with pytest.raises(ConfigError, match="give one of subject_dn"):
        server.register_tls_client(CLIENT_ID, jwks=x5c_jwk(pair), subject_dn="CN=reports")
    with pytest.raises(ConfigError, match="public keys only"):
        server.register_tls_client(CLIENT_ID, jwks={**x5c_jwk(pair), "d": "AAAA"})
    assert CLIENT_ID not in server.client_ids()
