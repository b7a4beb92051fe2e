"""Introspection verifies tokens by asking the real endpoint, with JWTVerifier's contract."""

from __future__ import annotations

import base64
import logging
from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.support.introspection_world import (
    AUDIENCE,
    ISSUER,
    RESOURCE_CLIENT,
    IntrospectionWorld,
)
from tokensources import ConfigError, InsufficientScopeError, InvalidTokenError
from tokensources.verify import Claims, Introspection

pytestmark = pytest.mark.anyio


async def verify(world: IntrospectionWorld, token: str, **kwargs: Any) -> Claims:
    """One verification through a fresh verifier."""
    scopes = kwargs.pop("scopes", ())
    async with world.http() as http, world.verifier(http, **kwargs) as verifier:
        with anyio.fail_after(10):
            return await verifier.verify(token, scopes=scopes)


@pytest.mark.parametrize("kind", ["opaque", "jwt"])
async def test_an_active_token_gives_its_claims(world: IntrospectionWorld, kind: str) -> None:
    """An active token, opaque or signed, verifies to the claims the endpoint answered."""
    token = world.opaque("read:messages") if kind == "opaque" else world.jwt("read:messages")
    claims = await verify(world, token, scopes="read:messages")
    assert claims.subject == "demo-client"
    assert claims.scopes == {"read:messages"}
    assert (claims["active"], claims["iss"], claims["aud"]) == (True, ISSUER, AUDIENCE)
    assert world.endpoint.requests == 1


async def test_a_missing_scope_is_insufficient_scope(world: IntrospectionWorld) -> None:
    """An active token without the required scope raises InsufficientScopeError naming it."""
    with pytest.raises(InsufficientScopeError) as caught:
        await verify(world, world.opaque("write:messages"), scopes=["read:messages"])
    assert caught.value.missing == ("read:messages",)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda w: "never-issued", "not active"),
        (lambda w: w.opaque(audience="https://other.example"), r"another audience \(aud\)"),
        (lambda w: w.jwt(audience="https://other.example"), "not active"),
    ],
    ids=["unknown", "opaque-other-audience", "jwt-other-audience"],
)
async def test_refused_tokens_raise_invalid_token(
    world: IntrospectionWorld, make: Any, match: str
) -> None:
    """Inactive tokens and tokens for another resource raise InvalidTokenError."""
    with pytest.raises(InvalidTokenError, match=match):
        await verify(world, make(world))


async def test_an_answer_without_audience_is_refused_when_one_is_required(
    world: IntrospectionWorld,
) -> None:
    """An active answer that names no aud is refused: the resource cannot tell it is meant."""
    app = answering({"active": True, "sub": "demo-client", "scope": "read:messages"})
    async with world.http(app) as http, world.verifier(http) as verifier:
        with pytest.raises(InvalidTokenError, match="no 'aud' claim"):
            await verifier.verify("opaque-token")
        async with world.verifier(http, audience=None) as anyone:
            assert (await anyone.verify("opaque-token")).subject == "demo-client"


async def test_an_answer_from_another_issuer_is_refused(world: IntrospectionWorld) -> None:
    """An active answer whose iss differs from the configured issuer is refused."""
    app = answering({"active": True, "aud": AUDIENCE, "iss": "https://evil.example"})
    async with world.http(app) as http, world.verifier(http) as verifier:
        with pytest.raises(InvalidTokenError, match=r"another issuer \(iss\)"):
            await verifier.verify("opaque-token")


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"exp": 1_799_999_990}, r"expired \(exp\)"),
        ({"nbf": 1_800_000_100}, r"not valid yet \(nbf\)"),
        ({"exp": "tomorrow"}, "'exp' claim is not a number"),
        ({"sub": 7}, "'sub' claim is not a string"),
    ],
)
async def test_active_answers_with_bad_claims_are_refused(
    world: IntrospectionWorld, answer: dict[str, Any], match: str
) -> None:
    """The server saying active does not override the claim checks (at the verifier's clock)."""
    app = answering({"active": True, "aud": AUDIENCE, **answer})
    async with world.http(app) as http, world.verifier(http) as verifier:
        with pytest.raises(InvalidTokenError, match=match):
            await verifier.verify("opaque-token")


async def test_the_client_authenticates_with_basic(world: IntrospectionWorld) -> None:
    """The request is a form POST of the token, with the client id and secret in HTTP Basic."""
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    token = world.opaque()
    async with (
        world.http() as http,
        world.verifier(http) as verifier,
    ):
        http.event_hooks["request"] = [record]
        await verifier.verify(token)
    (request,) = seen
    assert request.method == "POST"
    expected = base64.b64encode(f"{RESOURCE_CLIENT[0]}:{RESOURCE_CLIENT[1]}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.content.decode() == f"token={token}&token_type_hint=access_token"


async def test_wrong_client_credentials_are_not_a_verdict(world: IntrospectionWorld) -> None:
    """Refused client credentials raise TokenEndpointError 401, never InvalidTokenError."""
    from tokensources import TokenEndpointError

    with pytest.raises(TokenEndpointError) as caught:
        await verify(world, world.opaque(), client=("resource-server", "wrong-secret"))
    assert not isinstance(caught.value, InvalidTokenError)
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")


async def test_the_secret_and_the_token_never_show(
    world: IntrospectionWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the client secret nor the token appear in repr, errors or logs, even when echoed."""
    token = world.opaque()
    secret = RESOURCE_CLIENT[1]
    echo = answering({"error": "server_error", "echo": f"{token} {secret}"}, status=500)
    caplog.set_level(logging.DEBUG)
    async with world.http(echo) as http, world.verifier(http) as verifier:
        assert secret not in repr(verifier)
        with pytest.raises(Exception) as caught:
            await verifier.verify(token)
    evidence = [str(caught.value), repr(caught.value), str(vars(caught.value)), caplog.text]
    for text in evidence:
        assert token not in text
        assert secret not in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client": ("resource-server",)}, "client must be a"),
        ({"client": ("resource-server", "")}, "client must be a"),
        ({"client": "resource-server:rs-secret-7f3a9c"}, "client must be a"),
        ({"audience": []}, "audience"),
        ({"url": "http://idp.example.com/oauth/introspect"}, "plain http"),
        ({"cache_size": -1}, "cache_size"),
        ({"cache_max_age": -1}, "cache_max_age"),
        ({"inactive_max_age": float("nan")}, "inactive_max_age"),
        ({"max_token_bytes": 10}, "max_token_bytes"),
        ({"issuer": ""}, "issuer"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, Any], match: str) -> None:
    """Each malformed setting raises ConfigError naming it, never echoing the secret."""
    settings: dict[str, Any] = {"client": RESOURCE_CLIENT, "audience": AUDIENCE, **kwargs}
    url = settings.pop("url", "https://idp.example.com/oauth/introspect")
    with pytest.raises(ConfigError, match=match) as caught:
        Introspection(url, **settings)
    assert RESOURCE_CLIENT[1] not in str(caught.value)
    assert "rs-secret" not in str(caught.value)


def test_properties_name_the_configuration() -> None:
    """url, issuer and audience are readable; audience is a tuple."""
    verifier = Introspection(
        "https://idp.example.com/oauth/introspect",
        client=RESOURCE_CLIENT,
        audience=AUDIENCE,
        issuer=ISSUER,
    )
    assert (verifier.url, verifier.issuer, verifier.audience) == (
        "https://idp.example.com/oauth/introspect",
        ISSUER,
        (AUDIENCE,),
    )


async def test_a_clock_far_past_the_answer_still_refuses(
    world: IntrospectionWorld, clock: FakeClock
) -> None:
    """An opaque token that expired is refused on a later call, by the endpoint and the verifier."""
    token = world.opaque(lifetime=30)
    async with world.http() as http, world.verifier(http, leeway=0) as verifier:
        await verifier.verify(token)
        clock.advance(30)
        with pytest.raises(InvalidTokenError):
            await verifier.verify(token)


def answering(payload: dict[str, Any], *, status: int = 200) -> Any:
    """A stand-in endpoint that answers every request with ``payload``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = httpx.Response(status, json=payload).content
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
