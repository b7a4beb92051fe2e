"""RFC 7523bis options of both self-signed assertion sources: audience, issuer and typ.

Checked against the testing server in strict mode, which refuses what
servers following the draft will refuse (an ``aud`` other than the issuer,
a missing ``typ``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest

from tests.sources.test_client_secret_jwt import Sent
from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import ConfigError, TokenEndpointError
from tokensources.sources._assertion import CLIENT_AUTHENTICATION_TYP
from tokensources.sources._assertion_grant import AssertionGrant
from tokensources.sources._client_secret_jwt import ClientSecretJWT
from tokensources.sources._private_key_jwt import PrivateKeyJWT
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.test"
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT_ID = "assertion-client"
SECRET = "a-client-secret-long-enough-for-hs256"
STRICT: dict[str, Any] = {
    "assertion_audience": "issuer",
    "assertion_typ": CLIENT_AUTHENTICATION_TYP,
}

Make = Callable[..., AssertionGrant]


def private_key_jwt(token_url: str, **kwargs: Any) -> AssertionGrant:
    """A PrivateKeyJWT for CLIENT_ID with the session's RSA key."""
    return PrivateKeyJWT(token_url, CLIENT_ID, signing_keys.key("rsa"), **kwargs)


def client_secret_jwt(token_url: str, **kwargs: Any) -> AssertionGrant:
    """A ClientSecretJWT for CLIENT_ID with SECRET."""
    return ClientSecretJWT(token_url, CLIENT_ID, SECRET, **kwargs)


@pytest.fixture(params=[private_key_jwt, client_secret_jwt], ids=["private_key_jwt", "secret_jwt"])
def make(request: pytest.FixtureRequest) -> Make:
    """Each of the two sources that sign their own assertion."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A strict testing server with CLIENT_ID registered for both methods."""
    server = AuthorizationServer(
        issuer=ISSUER, clock=clock, register_demo_client=False, strict=True
    )
    jwks = {"keys": [signing_keys.public_jwk(signing_keys.key("rsa"))]}
    server.register_client(CLIENT_ID, SECRET, jwks=jwks)
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


async def test_the_default_audience_is_the_token_url_which_strict_servers_refuse(
    make: Make, http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """By default aud is the token URL and typ is JWT; a strict server says invalid_client."""
    source = make(TOKEN_URL, http=http, clock=clock)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == "invalid_client"
    header, claims = sent.assertion()
    assert claims["aud"] == TOKEN_URL == source.assertion_audience
    assert header["typ"] == "JWT"


async def test_issuer_audience_and_explicit_typ_pass_a_strict_server(
    make: Make, http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """assertion_audience="issuer" with issuer= and the 7523bis typ get a token in strict mode."""
    source = make(TOKEN_URL, issuer=ISSUER, http=http, clock=clock, **STRICT)
    with anyio.fail_after(10):
        await source.token()
    header, claims = sent.assertion()
    assert claims["aud"] == ISSUER == source.assertion_audience
    assert header["typ"] == CLIENT_AUTHENTICATION_TYP
    assert source.assertion_headers["typ"] == CLIENT_AUTHENTICATION_TYP
    assert server.counters.tokens_issued == 1


async def test_from_issuer_knows_the_issuer(
    make: Make, http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """Built by from_issuer(), "issuer" needs no issuer= argument."""
    with anyio.fail_after(10):
        source = await type(make(TOKEN_URL, issuer=ISSUER)).from_issuer(
            ISSUER,
            CLIENT_ID,
            signing_keys.key("rsa") if make is private_key_jwt else SECRET,
            http=http,
            clock=clock,
            **STRICT,
        )
        await source.token()
    assert sent.assertion()[1]["aud"] == ISSUER
    assert server.counters.tokens_issued == 1


def test_issuer_audience_without_a_known_issuer_is_a_clear_error(make: Make) -> None:
    """Asking for "issuer" with neither from_issuer() nor issuer= is a ConfigError saying so."""
    with pytest.raises(ConfigError, match=r"from_issuer\(\), or pass issuer="):
        make(TOKEN_URL, assertion_audience="issuer")
    with pytest.raises(ConfigError, match="issuer"):
        make(TOKEN_URL, assertion_audience=["issuer", TOKEN_URL])


async def test_a_list_audience_may_name_the_issuer_and_the_token_url(
    make: Make, http: httpx.AsyncClient, server: AuthorizationServer, sent: Sent, clock: FakeClock
) -> None:
    """["issuer", token URL] becomes both values, in order; a lenient server accepts it."""
    server.strict = False
    source = make(
        TOKEN_URL, assertion_audience=["issuer", TOKEN_URL], issuer=ISSUER, http=http, clock=clock
    )
    with anyio.fail_after(10):
        await source.token()
    assert sent.assertion()[1]["aud"] == [ISSUER, TOKEN_URL]
    assert server.counters.tokens_issued == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"assertion_typ": ""}, "assertion_typ"),
        ({"assertion_typ": "a b"}, "assertion_typ"),
        ({"assertion_typ": "x", "assertion_headers": {"typ": "y"}}, "given both"),
        ({"issuer": ""}, "issuer must be"),
        ({"assertion_audience": []}, "assertion_audience"),
        ({"assertion_lifetime": 0}, "assertion_lifetime"),
    ],
)
def test_bad_assertion_settings_are_refused(make: Make, kwargs: dict[str, Any], match: str) -> None:
    """Each unacceptable assertion setting is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=match):
        make(TOKEN_URL, **kwargs)


def test_a_jwt_typ_given_twice_the_same_way_is_fine(make: Make) -> None:
    """The same typ through assertion_typ= and assertion_headers is one header member."""
    source = make(TOKEN_URL, assertion_typ="JWT", assertion_headers={"typ": "JWT"})
    assert dict(source.assertion_headers) == {"typ": "JWT"}


@pytest.mark.parametrize("make_name", ["client_secret_jwt", "private_key_jwt", "mutual_tls"])
async def test_an_issuer_that_wants_another_method_is_refused(make_name: str) -> None:
    """from_issuer() refuses an issuer whose metadata lists other methods, naming them."""
    from tokensources.sources._client_assertion import ClientAssertion
    from tokensources.sources._mutual_tls import MutualTLS

    document = {
        "issuer": ISSUER,
        "token_endpoint": TOKEN_URL,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=document)

    classes: dict[str, Any] = {
        "client_secret_jwt": ClientSecretJWT,
        "private_key_jwt": ClientAssertion,
        "mutual_tls": MutualTLS,
    }
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with anyio.fail_after(10), pytest.raises(ConfigError) as caught:
            await classes[make_name].from_issuer(ISSUER, CLIENT_ID, SECRET, http=http)
    assert "client_secret_basic, client_secret_post" in str(caught.value)
    assert make_name.replace("mutual_tls", "tls_client_auth") in str(caught.value)
