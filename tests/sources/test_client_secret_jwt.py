"""ClientSecretJWT against the testing server, which checks every MAC and claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, TokenEndpointError
from tokensources.sources._assertion import CLIENT_ASSERTION_TYPE
from tokensources.sources._client_credentials import ClientCredentials
from tokensources.sources._client_secret_jwt import ClientSecretJWT
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.test"
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT_ID = "hmac-client"
SECRET = "s3cr3t-" + "x" * 57  # 64 bytes: long enough for HS512


class Sent:
    """The forms of the token requests an httpx client sent, decoded."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []

    async def __call__(self, request: httpx.Request) -> None:
        pairs = parse_qs(request.content.decode("ascii"))
        self.forms.append({name: values[0] for name, values in pairs.items()})

    def assertion(self, index: int = -1) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and (unverified) claims of a sent client assertion."""
        assertion = self.forms[index]["client_assertion"]
        claims = jwt.decode(assertion, options={"verify_signature": False})
        return jwt.get_unverified_header(assertion), claims


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server with a fixed issuer on the fake clock, CLIENT_ID registered."""
    server = AuthorizationServer(issuer=ISSUER, clock=clock, register_demo_client=False)
    server.register_client(CLIENT_ID, SECRET)
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


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
async def test_every_algorithm_gets_a_token(
    algorithm: str,
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    sent: Sent,
    clock: FakeClock,
) -> None:
    """The server verifies HS256, HS384 and HS512 assertions and issues a token."""
    source = ClientSecretJWT(
        TOKEN_URL, CLIENT_ID, SECRET, algorithm=algorithm, http=http, clock=clock
    )
    with anyio.fail_after(10):
        token = await source.token()
    assert server.verify_access_token(token.access_token)["sub"] == CLIENT_ID
    assert server.log.token_requests()[0].auth_method == "client_secret_jwt"
    header, claims = sent.assertion()
    assert header["alg"] == algorithm
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] == clock.now + 60
    assert sent.forms[0]["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert SECRET not in str(sent.forms[0])


async def test_each_request_has_a_fresh_jti(
    http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """Three requests carry three different jti values, and all three are accepted."""
    source = ClientSecretJWT(TOKEN_URL, CLIENT_ID, SECRET, http=http, clock=clock)
    with anyio.fail_after(10):
        for _ in range(3):
            await source.token()
    assert len({sent.assertion(i)[1]["jti"] for i in range(3)}) == 3
    assert server.counters.tokens_issued == 3


async def test_a_wrong_secret_is_invalid_client_and_never_shown(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A MAC made with another secret is refused; neither secret appears in the error."""
    wrong = "w" * 40
    source = ClientSecretJWT(TOKEN_URL, CLIENT_ID, wrong, http=http, clock=clock)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == "invalid_client"
    for text in (str(caught.value), repr(caught.value), repr(source)):
        assert wrong not in text
        assert SECRET not in text


@pytest.mark.parametrize(("algorithm", "needed"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_a_secret_too_short_for_the_algorithm_is_refused(algorithm: str, needed: int) -> None:
    """RFC 7518 §3.2: a secret shorter than the hash is a ConfigError that shows no secret."""
    short = "k" * (needed - 1)
    with pytest.raises(ConfigError) as caught:
        ClientSecretJWT(TOKEN_URL, CLIENT_ID, short, algorithm=algorithm)
    message = str(caught.value)
    assert f"{needed - 1} bytes" in message
    assert algorithm in message
    assert short not in message
    ClientSecretJWT(TOKEN_URL, CLIENT_ID, "k" * needed, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["RS256", "none", "hs256", ""])
def test_an_algorithm_other_than_hmac_is_refused(algorithm: str) -> None:
    """Only HS256, HS384 and HS512 sign client_secret_jwt assertions."""
    with pytest.raises(ConfigError, match="HS256, HS384, HS512"):
        ClientSecretJWT(TOKEN_URL, CLIENT_ID, SECRET, algorithm=algorithm)


async def test_the_server_refuses_a_registered_secret_too_short_to_key_hmac(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A client whose registered secret is short cannot use client_secret_jwt at the server."""
    server.register_client("short", "tiny")
    with pytest.warns(jwt.InsecureKeyLengthWarning):  # the short key is the point
        token = jwt.encode(
            {"iss": "short", "sub": "short", "aud": TOKEN_URL, "exp": clock.now + 60, "jti": "j1"},
            "tiny",
            algorithm="HS256",
        )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": token,
    }
    with anyio.fail_after(10):
        answer = await http.post("/oauth/token", data=form)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "too short" in answer.json()["error_description"]


async def test_the_shared_cache_identity_names_the_method(clock: FakeClock) -> None:
    """The same id and secret sent as client_secret_jwt and as Basic never share a token."""
    as_jwt = ClientSecretJWT(TOKEN_URL, CLIENT_ID, SECRET, clock=clock)
    as_basic = ClientCredentials(TOKEN_URL, CLIENT_ID, SECRET, clock=clock)
    other_secret = ClientSecretJWT(TOKEN_URL, CLIENT_ID, SECRET[::-1], clock=clock)
    same = ClientSecretJWT(TOKEN_URL, CLIENT_ID, SECRET, algorithm="HS512", clock=clock)
    assert as_jwt.cache_identity != as_basic.cache_identity
    assert as_jwt.cache_identity != other_secret.cache_identity
    assert as_jwt.cache_identity == same.cache_identity
    assert SECRET not in as_jwt.cache_identity


def test_the_metadata_announces_client_secret_jwt(server: AuthorizationServer) -> None:
    """Discovery lists client_secret_jwt and the HMAC algorithms next to the asymmetric ones."""
    document = server.metadata()
    assert "client_secret_jwt" in document["token_endpoint_auth_methods_supported"]
    algorithms = document["token_endpoint_auth_signing_alg_values_supported"]
    assert {"HS256", "HS384", "HS512", "RS256"} <= set(algorithms)
    assert "none" not in algorithms
