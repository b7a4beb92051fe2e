"""Strict mode: assertion aud, typ and jti, URL secrets, plain http, fractional expires_in."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.support.testing_keys import PrivateKey, public_jwk
from tokensources import ClientCredentials
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT = "svc"
TYP = "client-authentication+jwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def key(server: AuthorizationServer, private_keys: dict[str, PrivateKey]) -> PrivateKey:
    """The P-256 key of the ``svc`` client, registered on the root and on ``tenant-a``."""
    key = private_keys["P-256"]
    jwks = {"keys": [public_jwk(key, kid="k1")]}
    server.register_client(CLIENT, jwks=jwks)
    server.tenant("tenant-a").register_client(CLIENT, jwks=jwks)
    return key


def assertion(key: PrivateKey, aud: object, now: float, typ: str | None = TYP) -> str:
    """A fresh client assertion for ``svc`` with ``aud`` and the ``typ`` header."""
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": aud, "exp": now + 60, "jti": uuid.uuid4().hex}
    headers: dict[str, Any] = {"kid": "k1"} | ({"typ": typ} if typ else {})
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)


async def send(http: httpx.AsyncClient, token: str, path: str = "/oauth/token") -> httpx.Response:
    """A client_credentials request authenticated by ``token``."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
    }
    with anyio.fail_after(10):
        return await http.post(path, data=form)


async def test_without_strict_mode_legacy_assertions_are_accepted(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """By default the token endpoint URL as aud, and no typ, are fine (RFC 7523)."""
    answer = await send(http, assertion(key, server.token_endpoint, clock.now, typ=None))

    assert answer.status_code == 200
    assert server.strict is False


@pytest.mark.parametrize(
    ("aud", "typ", "rule"),
    [
        ("token_endpoint", TYP, "aud must be the issuer identifier"),
        ("issuer_and_more", TYP, "aud must be the issuer identifier"),
        ("issuer", None, "typ header must be 'client-authentication+jwt'"),
        ("issuer", "JWT", "typ header must be 'client-authentication+jwt'"),
    ],
    ids=["token-endpoint-aud", "aud-list", "no-typ", "jwt-typ"],
)
async def test_strict_mode_refuses_legacy_assertions(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    key: PrivateKey,
    clock: FakeClock,
    aud: str,
    typ: str | None,
    rule: str,
) -> None:
    """Strict mode answers invalid_client naming the rule for each legacy assertion shape."""
    server.strict = True
    audiences: dict[str, object] = {
        "token_endpoint": server.token_endpoint,
        "issuer_and_more": [server.issuer, server.token_endpoint],
        "issuer": server.issuer,
    }
    token = assertion(key, audiences[aud], clock.now, typ=typ)

    answer = await send(http, token)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert rule in answer.json()["error_description"]
    assert "strict mode" in answer.json()["error_description"]
    assert token not in answer.text
    server.assert_token_requests(1, error="invalid_client", auth_method="private_key_jwt")


@pytest.mark.parametrize(
    ("aud", "typ"),
    [("issuer", TYP), ("[issuer]", TYP), ("issuer", f"application/{TYP}"), ("issuer", TYP.upper())],
    ids=["string", "one-element-list", "full-media-type", "any-case"],
)
async def test_strict_mode_accepts_tomorrows_assertions(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    key: PrivateKey,
    clock: FakeClock,
    aud: str,
    typ: str,
) -> None:
    """The issuer as the sole aud, with the explicit type (RFC 7515 §4.1.9 forms), is accepted."""
    server.strict = True
    value: object = [server.issuer] if aud == "[issuer]" else server.issuer

    answer = await send(http, assertion(key, value, clock.now, typ=typ))

    assert answer.status_code == 200, answer.text


async def test_a_replayed_assertion_is_refused_in_strict_mode_too(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """The same jti twice is refused the second time."""
    server.strict = True
    token = assertion(key, server.issuer, clock.now)

    first, second = await send(http, token), await send(http, token)

    assert (first.status_code, second.status_code) == (200, 401)
    assert "jti" in second.json()["error_description"]


async def test_a_refused_strict_assertion_does_not_use_up_its_jti(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """Strict checks run before the replay memory: a corrected retry is judged on its own."""
    server.strict = True
    token = assertion(key, server.issuer, clock.now, typ=None)
    refused = await send(http, token)
    server.strict = False

    assert refused.status_code == 401
    assert (await send(http, token)).status_code == 200


async def test_strict_mode_refuses_a_client_secret_in_the_url(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A secret in the URL is refused (RFC 6749 §2.3.1), never echoed; lax mode ignores it."""
    form = {"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID}
    url = f"/oauth/token?client_secret={DEMO_CLIENT_SECRET}"
    with anyio.fail_after(10):
        lax = await http.post(url, data={**form, "client_secret": DEMO_CLIENT_SECRET})
        server.strict = True
        strict = await http.post(url, data={**form, "client_secret": DEMO_CLIENT_SECRET})
        plain_query = await http.post(
            "/oauth/token?tenant=x", data=form, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        )

    assert lax.status_code == 200
    assert strict.status_code == 400
    assert strict.json()["error"] == "invalid_request"
    assert "client_secret must be sent in the request body" in strict.json()["error_description"]
    assert DEMO_CLIENT_SECRET not in strict.text
    assert plain_query.status_code == 200  # RFC 6749 §3.2: a query of its own is allowed


async def test_strict_mode_is_per_issuer_and_follows_the_server(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """A tenant follows the server's strictness until it sets its own."""
    tenant = server.tenant("tenant-a")
    legacy = "/tenant-a/oauth/token"
    server.strict = True
    followed = await send(http, assertion(key, tenant.token_endpoint, clock.now), legacy)
    tenant.strict = False
    own = await send(http, assertion(key, tenant.token_endpoint, clock.now), legacy)
    root = await send(http, assertion(key, server.token_endpoint, clock.now))

    assert (followed.status_code, own.status_code, root.status_code) == (401, 200, 401)
    assert (tenant.strict, server.strict) == (False, True)


async def test_a_strict_tenant_wants_its_own_issuer_as_aud(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """Under a tenant the issuer identifier is the tenant's, not the root's."""
    tenant = server.tenant("tenant-a")
    tenant.strict = True

    root_aud = await send(http, assertion(key, server.issuer, clock.now), "/tenant-a/oauth/token")
    own_aud = await send(http, assertion(key, tenant.issuer, clock.now), "/tenant-a/oauth/token")

    assert (root_aud.status_code, own_aud.status_code) == (401, 200)


def test_the_constructor_turns_strict_mode_on() -> None:
    """AuthorizationServer(strict=True) starts strict, and so do its tenants."""
    server = AuthorizationServer(strict=True)

    assert server.strict is True
    assert server.tenant("t").strict is True


async def test_strict_mode_refuses_a_jti_again_even_after_its_assertion_expired(
    server: AuthorizationServer, http: httpx.AsyncClient, key: PrivateKey, clock: FakeClock
) -> None:
    """A jti is accepted once ever in strict mode; lax mode takes it back once it expired."""
    jti = uuid.uuid4().hex

    def reusing(now: float) -> str:
        claims = {"iss": CLIENT, "sub": CLIENT, "aud": server.issuer, "exp": now + 60, "jti": jti}
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1", "typ": TYP})

    first = await send(http, reusing(clock.now))
    clock.advance(120)  # the first assertion has expired, leeway included
    lax = await send(http, reusing(clock.now))
    clock.advance(120)
    server.strict = True
    strict = await send(http, reusing(clock.now))
    fresh = await send(http, assertion(key, server.issuer, clock.now))

    assert (first.status_code, lax.status_code, strict.status_code) == (200, 200, 401)
    assert "jti" in strict.json()["error_description"]
    assert fresh.status_code == 200


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"X-Forwarded-Proto": "http"}, "X-Forwarded-Proto"),
        ({"X-Forwarded-Proto": "HTTP, https"}, "X-Forwarded-Proto"),
        ({"Forwarded": 'for=192.0.2.60;proto="http";by=203.0.113.43'}, "Forwarded"),
        ({"X-Forwarded-Proto": "https"}, None),
        ({"Forwarded": "for=192.0.2.60;proto=https"}, None),
        ({}, None),
    ],
    ids=["xfp-http", "xfp-first-hop", "forwarded-http", "xfp-https", "forwarded-https", "none"],
)
async def test_strict_mode_refuses_a_token_request_a_proxy_saw_over_http(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    refused: str | None,
) -> None:
    """Behind a proxy that saw the client use plain http, strict mode answers 400; lax does not."""
    form = {"grant_type": "client_credentials"}
    demo = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    with anyio.fail_after(10):
        lax = await http.post("/oauth/token", data=form, auth=demo, headers=headers)
        server.strict = True
        strict = await http.post("/oauth/token", data=form, auth=demo, headers=headers)

    assert lax.status_code == 200
    if refused is None:
        assert strict.status_code == 200, strict.text
    else:
        assert strict.status_code == 400
        assert strict.json()["error"] == "invalid_request"
        description = strict.json()["error_description"]
        assert description.startswith("strict mode:")
        assert f"({refused}: http)" in description


async def test_strict_mode_announces_expires_in_with_its_fraction(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Lax mode rounds a 59.5 s lifetime down to 59; strict sends 59.5; the library keeps it."""
    server.token_lifetime = 59.5
    form = {"grant_type": "client_credentials"}
    demo = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    with anyio.fail_after(10):
        lax = await http.post("/oauth/token", data=form, auth=demo)
        server.strict = True
        strict = await http.post("/oauth/token", data=form, auth=demo)
        source = ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            http=http,
            clock=clock,
            allow_insecure_http=True,
        )
        token = await source.token()

    assert lax.json()["expires_in"] == 59
    assert strict.json()["expires_in"] == 59.5
    assert token.expires_at == clock.now + 59.5
