"""The testing server's federated clients: another issuer's JWT authenticates the client."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.support.testing_keys import PrivateKey, public_jwk
from tokensources import ConfigError
from tokensources._jose import sign
from tokensources.sources._assertion import CLIENT_ASSERTION_TYPE
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT_ID = "workload"
PLATFORM = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:example/app:ref:refs/heads/main"


def assertion(key: PrivateKey, server: AuthorizationServer, **claims: Any) -> str:
    """A platform JWT about SUBJECT for ``server``, with ``claims`` overriding the defaults."""
    now = server.clock()
    base = {"iss": PLATFORM, "sub": SUBJECT, "aud": server.issuer, "exp": now + 300, "iat": now}
    return sign(base | claims, key, "ES256", {"kid": "platform-1"})


async def post(
    http: httpx.AsyncClient, jwt_text: str, client_id: str = CLIENT_ID
) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": jwt_text,
    }
    with anyio.fail_after(10):
        return await http.post("/oauth/token", data=form)


@pytest.fixture
def platform_key(private_keys: dict[str, PrivateKey]) -> PrivateKey:
    return private_keys["P-256"]


@pytest.fixture(autouse=True)
def _federated(server: AuthorizationServer, platform_key: PrivateKey) -> None:
    server.register_federated_client(
        CLIENT_ID,
        issuer=PLATFORM,
        subject=SUBJECT,
        keys={"keys": [public_jwk(platform_key, "platform-1")]},
    )


async def test_a_trusted_jwt_gets_a_token(
    http: httpx.AsyncClient, server: AuthorizationServer, platform_key: PrivateKey
) -> None:
    """A JWT from the trusted issuer about the trusted subject authenticates the client."""
    answer = await post(http, assertion(platform_key, server))
    assert answer.status_code == 200
    assert server.verify_access_token(answer.json()["access_token"])["sub"] == CLIENT_ID


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://elsewhere.example"}, "iss"),
        ({"sub": "repo:example/other:ref:refs/heads/main"}, "sub"),
        ({"aud": "https://another-server.example"}, "aud"),
        ({"exp": -10}, "expired"),
    ],
)
async def test_what_the_trust_does_not_cover_is_refused(
    claims: dict[str, Any],
    reason: str,
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    platform_key: PrivateKey,
) -> None:
    """Another issuer, subject or audience, or an expired JWT: invalid_client naming the check."""
    if "exp" in claims:
        claims = {"exp": server.clock() + claims["exp"]}
    answer = await post(http, assertion(platform_key, server, **claims))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert reason in answer.json()["error_description"]


async def test_a_jwt_signed_by_another_key_is_refused(
    http: httpx.AsyncClient, server: AuthorizationServer, private_keys: dict[str, PrivateKey]
) -> None:
    """The right claims signed by a key the trust does not hold are refused."""
    forged = sign(
        {"iss": PLATFORM, "sub": SUBJECT, "aud": server.issuer, "exp": server.clock() + 60},
        private_keys["RSA"],
        "RS256",
    )
    answer = await post(http, forged)
    assert answer.status_code == 401
    assert "signature" in answer.json()["error_description"]


async def test_keys_given_as_a_callable_follow_a_rotation(
    http: httpx.AsyncClient, server: AuthorizationServer, private_keys: dict[str, PrivateKey]
) -> None:
    """With keys=callable, the server verifies against the issuer's keys of the moment."""
    current = {"keys": [public_jwk(private_keys["P-256"], "platform-1")]}
    server.register_federated_client(
        CLIENT_ID, issuer=PLATFORM, subject=SUBJECT, keys=lambda: current
    )
    assert (await post(http, assertion(private_keys["P-256"], server))).status_code == 200
    current = {"keys": [public_jwk(private_keys["P-384"], "platform-2")]}
    rotated = sign(
        {"iss": PLATFORM, "sub": SUBJECT, "aud": server.issuer, "exp": server.clock() + 60},
        private_keys["P-384"],
        "ES384",
    )
    assert (await post(http, assertion(private_keys["P-256"], server))).status_code == 401
    assert (await post(http, rotated)).status_code == 200


async def test_a_custom_assertion_audience(
    http: httpx.AsyncClient, server: AuthorizationServer, platform_key: PrivateKey
) -> None:
    """assertion_audience replaces the default audiences (Entra's api://AzureADTokenExchange)."""
    exchange = "api://AzureADTokenExchange"
    server.register_federated_client(
        CLIENT_ID,
        issuer=PLATFORM,
        subject=SUBJECT,
        keys={"keys": [public_jwk(platform_key, "platform-1")]},
        assertion_audience=exchange,
    )
    assert (await post(http, assertion(platform_key, server, aud=exchange))).status_code == 200
    assert (await post(http, assertion(platform_key, server))).status_code == 401


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"issuer": ""}, "issuer"),
        ({"subject": ""}, "subject"),
        ({"keys": "not keys"}, "keys must be"),
        ({"keys": {"keys": []}}, "jwks"),
        ({"assertion_audience": []}, "assertion_audience"),
    ],
)
def test_bad_registrations_are_refused(
    kwargs: dict[str, Any], match: str, server: AuthorizationServer, platform_key: PrivateKey
) -> None:
    """Each unusable registration argument is a ConfigError naming it."""
    arguments: dict[str, Any] = {
        "issuer": PLATFORM,
        "subject": SUBJECT,
        "keys": {"keys": [public_jwk(platform_key, "platform-1")]},
    }
    with pytest.raises(ConfigError, match=match):
        server.register_federated_client(CLIENT_ID, **(arguments | kwargs))
