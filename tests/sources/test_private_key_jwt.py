"""PrivateKeyJWT against the real testing server, which verifies every assertion."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import jwt
import pytest

from tests.support import signing_keys
from tests.support.clock import FakeClock
from tokensources import ConfigError, TokenEndpointError, TokenResponseError
from tokensources.sources._private_key_jwt import CLIENT_ASSERTION_TYPE, PrivateKeyJWT
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.test"
TOKEN_URL = f"{ISSUER}/oauth/token"
CLIENT_ID = "jwt-client"

# Each algorithm/key pair in every format the key type has (Ed keys have no
# OpenSSL-traditional PEM form).
MATRIX = [
    pytest.param((alg, name, fmt), id=f"{alg}-{name}-{fmt}")
    for alg, name in signing_keys.ALGORITHM_KEYS
    for fmt in signing_keys.KEY_FORMATS
    if not (fmt == "pem-traditional" and name.startswith("ed"))
]


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A fresh testing server on the fake clock, with no demo client."""
    return AuthorizationServer(issuer=ISSUER, clock=clock, register_demo_client=False)


def register(server: AuthorizationServer, name: str, **jwk_members: str) -> None:
    """Register CLIENT_ID with the public key of ``name``, serialised independently."""
    jwk = signing_keys.public_jwk(signing_keys.key(name)) | jwk_members
    server.register_client(CLIENT_ID, jwks={"keys": [jwk]})


def make_source(
    http: httpx.AsyncClient, clock: FakeClock, name: str = "rsa", **kwargs: Any
) -> PrivateKeyJWT:
    return PrivateKeyJWT(
        TOKEN_URL, CLIENT_ID, signing_keys.key(name), http=http, clock=clock, **kwargs
    )


@pytest.mark.parametrize("case", MATRIX)
async def test_every_algorithm_and_key_format_gets_a_token(
    case: tuple[str, str, str],
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    clock: FakeClock,
) -> None:
    """The server verifies the assertion of every algorithm and key format and issues a token."""
    algorithm, key_name, key_format = case
    register(server, key_name)
    material, password = signing_keys.encode(key_name, key_format)
    source = PrivateKeyJWT(
        TOKEN_URL,
        CLIENT_ID,
        material,
        algorithm=algorithm,
        key_password=password,
        http=http,
        clock=clock,
    )
    with anyio.fail_after(10):
        token = await source.token()
    assert server.verify_access_token(token.access_token)["sub"] == CLIENT_ID
    assert token.expires_at == clock.now + server.token_lifetime
    assert server.counters.tokens_issued == 1
    assert server.counters.by_client == {CLIENT_ID: 1}


@pytest.mark.parametrize("key_name", signing_keys.KEY_NAMES)
async def test_registering_public_jwks_works(
    key_name: str, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """The JWK Set from public_jwks(), registered as is, verifies the source's assertions."""
    source = make_source(http, clock, key_name)
    server.register_client(CLIENT_ID, jwks=source.public_jwks())
    with anyio.fail_after(10):
        await source.token()
        await source.token()
    assert server.counters.tokens_issued == 2


async def test_key_id_selects_the_registered_key(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """With two registered keys, the kid in the header picks the right one."""
    other = signing_keys.public_jwk(signing_keys.key("p256")) | {"kid": "other"}
    mine = signing_keys.public_jwk(signing_keys.key("rsa")) | {"kid": "mine"}
    server.register_client(CLIENT_ID, jwks={"keys": [other, mine]})
    source = make_source(http, clock, key_id="mine")
    with anyio.fail_after(10):
        await source.token()
    assert server.counters.tokens_issued == 1


async def test_a_kid_the_server_does_not_know_is_refused(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A header kid that matches no registered key gets invalid_client."""
    register(server, "rsa", kid="registered")
    source = make_source(http, clock, key_id="unknown")
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == "invalid_client"


async def test_each_request_has_a_fresh_jti_and_the_server_refuses_a_replay(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Every request carries a new jti; replaying a sent assertion is refused."""
    register(server, "p256")
    sent: list[dict[str, str]] = []

    async def record(request: httpx.Request) -> None:
        sent.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})

    async with server.client(event_hooks={"request": [record]}) as http:
        source = make_source(http, clock, "p256")
        with anyio.fail_after(10):
            for _ in range(3):
                await source.token()
            replay = await http.post("/oauth/token", data=sent[0])
    jtis = {
        jwt.decode(s["client_assertion"], options={"verify_signature": False})["jti"]
        for s in sent[:3]
    }
    assert len(jtis) == 3
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert server.counters.tokens_issued == 3


async def test_a_key_the_server_does_not_know_is_refused_without_leaking(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A valid assertion signed by an unregistered key gets a definitive invalid_client."""
    register(server, "rsa-other")
    source = make_source(http, clock, "rsa")
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401
    assert not caught.value.transient
    for fragment in signing_keys.key_material(signing_keys.key("rsa")):
        assert fragment not in str(caught.value)


@pytest.mark.parametrize(
    ("assertion_audience", "accepted"),
    [
        pytest.param(None, True, id="default-token-url"),
        pytest.param(ISSUER, True, id="issuer"),
        pytest.param(["https://elsewhere.example", TOKEN_URL], True, id="list"),
        pytest.param("https://elsewhere.example/oauth/token", False, id="wrong"),
    ],
)
async def test_assertion_audience_is_checked_by_the_server(
    assertion_audience: str | list[str] | None,
    accepted: bool,
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    clock: FakeClock,
) -> None:
    """The server accepts the token URL, the issuer or a list naming one, and nothing else."""
    register(server, "rsa")
    source = make_source(http, clock, assertion_audience=assertion_audience)
    with anyio.fail_after(10):
        if accepted:
            await source.token()
        else:
            with pytest.raises(TokenEndpointError) as caught:
                await source.token()
            assert caught.value.error == "invalid_client"
    assert server.counters.tokens_issued == (1 if accepted else 0)


async def test_an_assertion_from_a_clock_far_behind_is_refused_as_expired(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """An assertion whose exp has passed by the server's clock is refused."""
    register(server, "ed25519")
    behind = FakeClock(clock.now - 600)
    source = make_source(http, behind, "ed25519")
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.error == "invalid_client"
    assert "expired" in (caught.value.error_description or "")


async def test_a_clock_a_few_seconds_ahead_is_tolerated(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Backdating iat and nbf absorbs a client clock running slightly ahead of the server."""
    register(server, "rsa")
    source = make_source(http, FakeClock(clock.now + 8), "rsa")
    with anyio.fail_after(10):
        await source.token()
    assert server.counters.tokens_issued == 1


async def test_scopes_and_token_audience_are_requested(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Scopes and the token's audience travel in the form, apart from the assertion's aud."""
    server.register_client(
        CLIENT_ID,
        jwks={"keys": [signing_keys.public_jwk(signing_keys.key("rsa"))]},
        scopes=("read:messages", "write:messages"),
        audiences=("https://api.example.com", "https://other.example.com"),
    )
    source = make_source(
        http, clock, scopes=["read:messages"], audience="https://other.example.com"
    )
    with anyio.fail_after(10):
        token = await source.token()
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["scope"] == "read:messages"
    assert claims["aud"] == "https://other.example.com"
    assert token.scope == "read:messages"


async def test_from_issuer_discovers_the_token_endpoint(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """from_issuer() finds the token endpoint, which becomes the assertion's aud."""
    register(server, "p384")
    with anyio.fail_after(10):
        source = await PrivateKeyJWT.from_issuer(
            ISSUER, CLIENT_ID, signing_keys.key("p384"), http=http, clock=clock
        )
        await source.token()
    assert source.token_url == TOKEN_URL
    assert source.assertion_audience == TOKEN_URL
    assert source.algorithm == "ES384"
    assert server.counters.discovery_requests == 1
    assert server.counters.tokens_issued == 1


async def test_on_loopback_with_an_owned_client() -> None:
    """Over real HTTP the source creates, uses and closes its own httpx client."""
    loopback = AuthorizationServer(register_demo_client=False)
    loopback.register_client(
        CLIENT_ID, jwks={"keys": [signing_keys.public_jwk(signing_keys.key("ed25519"))]}
    )
    with anyio.fail_after(10):
        async with loopback.serve() as url:
            async with PrivateKeyJWT(
                f"{url}/oauth/token", CLIENT_ID, signing_keys.key("ed25519")
            ) as source:
                await source.token()
    assert loopback.counters.tokens_issued == 1


async def test_the_hosts_own_name_is_no_accepted_audience(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """An aud naming the request's Host header, rather than the server, is refused."""
    register(server, "rsa")
    async with server.client(base_url="http://wrong-audience.example") as http:
        source = PrivateKeyJWT(
            "http://wrong-audience.example/oauth/token",
            CLIENT_ID,
            signing_keys.key("rsa"),
            http=http,
            clock=clock,
            allow_insecure_http=True,
        )
        with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
            await source.token()
    assert caught.value.error == "invalid_client"
    assert server.counters.tokens_issued == 0


async def test_a_fixed_issuer_on_loopback_accepts_the_served_url_as_audience(
    server: AuthorizationServer, clock: FakeClock
) -> None:
    """Under a fixed issuer, the loopback URL the server is serving on is also its own."""
    register(server, "p256")
    with anyio.fail_after(10):
        async with server.serve() as url:
            async with PrivateKeyJWT(
                f"{url}/oauth/token", CLIENT_ID, signing_keys.key("p256"), clock=clock
            ) as source:
                await source.token()
    assert server.issuer == ISSUER
    assert server.counters.tokens_issued == 1


async def test_the_longest_assertion_lifetime_the_library_allows_is_accepted(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """An assertion with assertion_lifetime=3600, the library's maximum, gets a token."""
    register(server, "rsa")
    source = make_source(http, clock, assertion_lifetime=3600)
    with anyio.fail_after(10):
        await source.token()
    assert server.counters.tokens_issued == 1


@pytest.mark.parametrize("key_id", [None, "2024-01"])
async def test_the_request_carries_a_verifiable_rfc_7523_assertion(
    key_id: str | None, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """The form names the jwt-bearer type and client id; the assertion's claims and kid hold."""
    register(server, "rsa", **({"kid": key_id} if key_id else {}))
    forms: list[dict[str, list[str]]] = []

    async def record(request: httpx.Request) -> None:
        forms.append(parse_qs(request.content.decode()))

    http.event_hooks["request"].append(record)
    clock.now += 0.5
    with anyio.fail_after(10):
        await make_source(http, clock, key_id=key_id, assertion_lifetime=45).token()
    (form,) = forms
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [CLIENT_ASSERTION_TYPE]
    assert form["client_id"] == [CLIENT_ID]
    assert "client_secret" not in form
    (assertion,) = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header.get("kid") == key_id
    assert (header["alg"], header["typ"]) == ("RS256", "JWT")
    claims = jwt.decode(
        assertion,
        signing_keys.rsa_key().public_key(),
        algorithms=["RS256"],
        audience=TOKEN_URL,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["iat"] == claims["nbf"] == int(clock.now) - 5
    assert claims["exp"] == int(clock.now) + 46
    assert set(claims) == {"iss", "sub", "aud", "jti", "iat", "nbf", "exp"}


async def test_extra_assertion_headers_are_sent(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """assertion_headers (an Entra-style x5t#S256) reach the assertion header next to kid."""
    register(server, "rsa", kid="k1")
    headers: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        headers.append(jwt.get_unverified_header(assertion))

    http.event_hooks["request"].append(record)
    source = make_source(
        http, clock, algorithm="PS256", key_id="k1", assertion_headers={"x5t#S256": "abc"}
    )
    with anyio.fail_after(10):
        await source.token()
    assert headers == [{"alg": "PS256", "typ": "JWT", "kid": "k1", "x5t#S256": "abc"}]
    assert server.counters.tokens_issued == 1


def echoing_transport(status: int, content_type: str) -> httpx.MockTransport:
    """A token endpoint that echoes the client assertion back in its error answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        assertion = parse_qs(request.content.decode())["client_assertion"][0]
        if content_type == "application/json":
            body = json.dumps({"error": "invalid_client", "error_description": f"bad {assertion}"})
        else:
            body = f"<html>rejected {assertion}</html>"
        return httpx.Response(status, text=body, headers={"content-type": content_type})

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("status", "content_type"),
    [(401, "application/json"), (500, "text/html"), (200, "text/html")],
)
async def test_an_echoed_assertion_never_reaches_the_error(
    status: int, content_type: str, clock: FakeClock
) -> None:
    """When an endpoint echoes the assertion, the error message and excerpt do not carry it."""
    sent: list[str] = []

    async def record(request: httpx.Request) -> None:
        sent.append(parse_qs(request.content.decode())["client_assertion"][0])

    transport = echoing_transport(status, content_type)
    async with httpx.AsyncClient(transport=transport, event_hooks={"request": [record]}) as http:
        source = make_source(http, clock)
        with (
            anyio.fail_after(10),
            pytest.raises((TokenEndpointError, TokenResponseError)) as caught,
        ):
            await source.token()
    (assertion,) = sent
    signature = assertion.rsplit(".", 1)[1]
    for text in (str(caught.value), repr(caught.value), str(vars(caught.value))):
        assert assertion not in text
        assert signature not in text


async def test_params_may_not_override_the_assertion(clock: FakeClock) -> None:
    """The shared parameter checks refuse a params entry that would replace the assertion."""
    with pytest.raises(ConfigError, match="client_assertion"):
        PrivateKeyJWT(
            TOKEN_URL, CLIENT_ID, signing_keys.key("rsa"), params={"client_assertion": "x"}
        )
