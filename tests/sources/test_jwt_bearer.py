"""JWTBearer (RFC 7523 §2.1) against the testing server's JWT-bearer grant."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import (
    ClientCredentials,
    ConfigError,
    Static,
    Token,
    TokenEndpointError,
    TokenExpiredError,
    TokenSource,
    reuse,
)
from tokensources.sources._file_token import FileToken
from tokensources.sources._jwt_bearer import JWTBearer
from tokensources.sources._signed_assertion import SignedAssertion
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._token_files import KubernetesTokenFile
from tokensources.testing._workload_issuer import KUBERNETES_ISSUER

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server with an https issuer, reached in-process."""
    return AuthorizationServer(issuer="https://idp.example.com", clock=clock)


def _bearer(
    server: AuthorizationServer, http: httpx.AsyncClient, assertion: TokenSource, clock: FakeClock
) -> JWTBearer:
    client = ClientCredentials(server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)
    return JWTBearer(
        server.token_endpoint,
        assertion,
        scopes=["read:messages"],
        client=client,
        http=http,
        clock=clock,
    )


def _signed(server: AuthorizationServer, clock: FakeClock, subject: str) -> SignedAssertion:
    """An assertion signed with a key the server trusts (its workload issuer's)."""
    key = server.workload_issuer.keys.current
    return SignedAssertion(
        key.private,
        issuer=KUBERNETES_ISSUER,
        subject=subject,
        audience=server.token_endpoint,
        key_id=key.kid,
        clock=clock,
    )


async def test_signed_assertion_is_exchanged(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A self-signed assertion from a trusted key gets a token for its sub."""
    token = await _bearer(server, http, _signed(server, clock, "svc@example.com"), clock).token()
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["scope"]) == ("svc@example.com", "read:messages")
    assert server.counters.tokens_issued == 1


async def test_token_file_as_assertion(
    server: AuthorizationServer, http: httpx.AsyncClient, tmp_path: Path, clock: FakeClock
) -> None:
    """A Kubernetes token file works as the assertion, read once under reuse()."""
    volume = KubernetesTokenFile(tmp_path)
    volume.write(server.workload_issuer.mint_kubernetes(audience=server.issuer))
    subject = FileToken(volume.path, clock=clock)
    cached = reuse(_bearer(server, http, subject, clock), clock=clock)
    for _ in range(10):
        await cached.token()
    assert server.counters.token_requests == 1
    assert subject.reads == 1


async def test_untrusted_assertion_is_invalid_grant(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An assertion signed by a key the server does not know is invalid_grant, never shown."""
    other = SignedAssertion(
        _signed(server, clock, "x").key.private_key,
        issuer="https://unknown.example",
        subject="x",
        audience=server.token_endpoint,
        clock=clock,
    )
    assertion = (await other.token()).access_token
    with pytest.raises(TokenEndpointError) as info:
        await _bearer(server, http, Static(assertion), clock).token()
    assert info.value.error == "invalid_grant"
    assert assertion not in str(info.value)


async def test_expired_assertion_is_not_sent(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An expired assertion raises TokenExpiredError before any request."""
    expired = Static(Token("eyJ.x.y", expires_at=clock.now - 1), clock=clock)
    with pytest.raises(TokenExpiredError):
        await _bearer(server, http, expired, clock).token()
    assert server.counters.token_requests == 0


def test_identity_names_the_assertion_subject(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Assertions for different subjects never share a token; equal ones do."""
    url = server.token_endpoint

    def identity(subject: str) -> str:
        return JWTBearer(url, _signed(server, clock, subject)).cache_identity

    assert identity("a") == identity("a")
    assert identity("a") != identity("b")


def test_bad_input_is_a_config_error() -> None:
    """A non-source assertion or a reserved param is refused."""
    with pytest.raises(ConfigError, match="assertion"):
        JWTBearer("https://oauth2.example.com/token", "eyJ...")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="assertion"):
        JWTBearer("https://oauth2.example.com/token", Static("a"), params={"assertion": "x"})
