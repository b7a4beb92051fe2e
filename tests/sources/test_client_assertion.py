"""ClientAssertion against the testing server, with a client registered as federated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from tests.sources.test_client_secret_jwt import Sent
from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import ConfigError, Static, Token, TokenEndpointError, TokenExpiredError
from tokensources._jose import sign
from tokensources.sources._client_assertion import ClientAssertion
from tokensources.sources._signed_assertion import SignedAssertion
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.test"
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT_ID = "federated-client"
PLATFORM = "https://kubernetes.default.svc"
SUBJECT = "system:serviceaccount:payments:api"


class PlatformTokens:
    """A platform issuer's token source: each read gives the next JWT, and reads are counted.

    ``lifetimes`` are the seconds each successive token lives (negative:
    already expired); after the last, the last one repeats.
    """

    def __init__(self, clock: FakeClock, *lifetimes: float, subject: str = SUBJECT) -> None:
        self.clock = clock
        self.lifetimes = list(lifetimes) or [3600.0]
        self.subject = subject
        self.reads = 0
        self.invalidated: list[Token] = []

    async def token(self) -> Token:
        lifetime = self.lifetimes[min(self.reads, len(self.lifetimes) - 1)]
        self.reads += 1
        claims = {
            "iss": PLATFORM,
            "sub": self.subject,
            "aud": ISSUER,
            "iat": int(self.clock.now),
            "exp": int(self.clock.now + lifetime),
            "n": self.reads,
        }
        return Token(sign(claims, signing_keys.key("p256"), "ES256"))

    def invalidate(self, token: Token) -> None:
        self.invalidated.append(token)

    def subject_claims(self) -> dict[str, str]:
        return {"iss": PLATFORM, "sub": self.subject}


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server whose CLIENT_ID trusts the platform's tokens about SUBJECT."""
    server = AuthorizationServer(issuer=ISSUER, clock=clock, register_demo_client=False)
    server.register_federated_client(
        CLIENT_ID,
        issuer=PLATFORM,
        subject=SUBJECT,
        keys={"keys": [signing_keys.public_jwk(signing_keys.key("p256"))]},
    )
    return server


@pytest.fixture
def sent() -> Sent:
    """Where the token requests' forms are collected."""
    return Sent()


@pytest.fixture
async def http(server: AuthorizationServer, sent: Sent) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client for ``server`` that records what it sends."""
    async with server.client(event_hooks={"request": [sent]}) as client:
        yield client


def source(http: httpx.AsyncClient, clock: FakeClock, assertion: Any) -> ClientAssertion:
    return ClientAssertion(TOKEN_URL, CLIENT_ID, assertion, http=http, clock=clock)


async def test_a_platform_token_authenticates_the_federated_client(
    http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """The platform's JWT, sent as client_assertion with client_id, gets the client a token."""
    platform = PlatformTokens(clock)
    with anyio.fail_after(10):
        token = await source(http, clock, platform).token()
    assert server.verify_access_token(token.access_token)["sub"] == CLIENT_ID
    assert sent.forms[0]["client_id"] == CLIENT_ID
    assert sent.assertion()[1]["iss"] == PLATFORM
    assert server.log.token_requests()[0].auth_method == "private_key_jwt"


async def test_the_assertion_is_read_afresh_for_every_request(
    http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """Three token requests read the assertion source three times and send three assertions."""
    platform = PlatformTokens(clock)
    tokens = source(http, clock, platform)
    with anyio.fail_after(10):
        for _ in range(3):
            await tokens.token()
    assert platform.reads == 3
    assert [sent.assertion(i)[1]["n"] for i in range(3)] == [1, 2, 3]
    assert server.counters.tokens_issued == 3


async def test_the_same_platform_token_may_be_sent_again(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A platform token is reused until it rotates: the server accepts it twice (no jti)."""
    platform = PlatformTokens(clock)
    fixed = Static(await platform.token())
    tokens = source(http, clock, fixed)
    with anyio.fail_after(10):
        await tokens.token()
        await tokens.token()
    assert server.counters.tokens_issued == 2


async def test_an_expired_assertion_is_replaced_before_it_is_sent(
    http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """An assertion past its exp is invalidated and read again; only the current one goes out."""
    platform = PlatformTokens(clock, -1, 3600)
    with anyio.fail_after(10):
        await source(http, clock, platform).token()
    assert platform.reads == 2
    assert len(platform.invalidated) == 1
    assert len(sent.forms) == 1
    assert sent.assertion()[1]["n"] == 2
    assert server.counters.token_requests == 1


async def test_an_assertion_that_stays_expired_is_never_sent(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """When the source has nothing current, token() raises TokenExpiredError and sends nothing."""
    platform = PlatformTokens(clock, -1)
    with anyio.fail_after(10), pytest.raises(TokenExpiredError, match="was not sent"):
        await source(http, clock, platform).token()
    assert server.counters.token_requests == 0


async def test_a_refused_assertion_is_invalidated_at_its_source(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """invalid_client drops the refused assertion, so the next attempt reads a new one."""
    platform = PlatformTokens(clock, subject="system:serviceaccount:other:app")
    tokens = source(http, clock, platform)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await tokens.token()
    assert caught.value.error == "invalid_client"
    assert len(platform.invalidated) == 1
    refused = platform.invalidated[0].access_token
    assert refused not in str(caught.value)
    assert refused.rsplit(".", 1)[-1] not in repr(caught.value)


@pytest.mark.parametrize("value", ["not-a-jwt", "eyJhbGciOi", "a.b.c"])
async def test_an_assertion_that_is_not_a_jwt_is_a_config_error(
    value: str, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A source giving something other than a JWT is refused before any request, unquoted."""
    with anyio.fail_after(10), pytest.raises(ConfigError, match="not a JWT") as caught:
        await source(http, clock, Static(value)).token()
    assert value not in str(caught.value)
    assert server.counters.token_requests == 0


def test_the_assertion_must_be_a_token_source() -> None:
    """A string where a source belongs is a ConfigError at construction."""
    with pytest.raises(ConfigError, match="assertion must be a token source"):
        ClientAssertion(TOKEN_URL, CLIENT_ID, "eyJ...")  # type: ignore[arg-type]


def test_the_shared_identity_is_whose_assertion_it_is(clock: FakeClock) -> None:
    """Replicas of one workload share an identity; another subject or client never does."""
    key = signing_keys.key("p256")

    def make(subject: str, client_id: str = CLIENT_ID) -> ClientAssertion:
        signed = SignedAssertion(key, issuer=PLATFORM, subject=subject, audience=ISSUER)
        return ClientAssertion(TOKEN_URL, client_id, signed, clock=clock)

    assert make(SUBJECT).cache_identity == make(SUBJECT).cache_identity
    assert make(SUBJECT).cache_identity != make("system:serviceaccount:x:y").cache_identity
    assert make(SUBJECT).cache_identity != make(SUBJECT, "other-client").cache_identity
