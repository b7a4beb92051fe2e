"""private_key_jwt client authentication (RFC 7523): signatures, aud, exp and jti replay."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tests.support.testing_keys import PrivateKey, public_jwk
from tokensources._jose import SIGNATURE_ALGORITHMS, sign
from tokensources.testing import AuthorizationServer

pytestmark = pytest.mark.anyio

CLIENT = "jwt-client"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEY_FOR_ALG = {
    "RS256": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "ES256": "P-256",
    "ES384": "P-384",
    "EdDSA": "Ed25519",
}


@pytest.fixture
def jwt_server(server: AuthorizationServer, private_keys: dict[str, PrivateKey]) -> None:
    """Register ``jwt-client`` with every public key of the session, one kid per family."""
    keys = [public_jwk(key, kid=name) for name, key in private_keys.items()]
    server.register_client(CLIENT, jwks={"keys": keys})


def assertion(
    key: PrivateKey, *, alg: str, kid: str | None, aud: object, now: float, **overrides: Any
) -> str:
    """A client assertion for ``jwt-client``; overrides replace (or, as None, remove) claims."""
    claims: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


async def send(http: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    """Post a client_credentials request authenticated by ``token``."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
        **extra,
    }
    with anyio.fail_after(10):
        return await http.post("/oauth/token", data=form)


@pytest.mark.usefixtures("jwt_server")
@pytest.mark.parametrize("alg", sorted(KEY_FOR_ALG))
async def test_a_valid_assertion_gets_a_token(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
    alg: str,
) -> None:
    """An assertion signed by a registered key, for each supported algorithm, gets a token."""
    family = KEY_FOR_ALG[alg]
    token = assertion(
        private_keys[family], alg=alg, kid=family, now=clock.now, aud=server.token_endpoint
    )
    response = await send(http, token)

    assert response.status_code == 200, response.text
    assert server.verify_access_token(response.json()["access_token"])["sub"] == CLIENT
    assert server.counters.by_client[CLIENT] == 1


@pytest.mark.usefixtures("jwt_server")
@pytest.mark.parametrize("aud", ["issuer", "list"])
async def test_the_issuer_or_a_list_is_an_accepted_audience(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
    aud: str,
) -> None:
    """aud may be the issuer, or a list that contains the token endpoint."""
    value: str | list[str] = (
        server.issuer if aud == "issuer" else ["https://elsewhere", server.token_endpoint]
    )
    token = assertion(private_keys["RSA"], alg="RS256", kid=None, now=clock.now, aud=value)
    response = await send(http, token, client_id=CLIENT)

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("jwt_server")
async def test_an_assertion_naming_the_host_header_is_refused(
    server: AuthorizationServer, clock: FakeClock, private_keys: dict[str, PrivateKey]
) -> None:
    """The Host header is the client's choice, so an aud naming it is not this server."""
    async with server.client(base_url="http://wrong-audience.example") as http:
        token = assertion(
            private_keys["RSA"],
            alg="RS256",
            kid="RSA",
            now=clock.now,
            aud="http://wrong-audience.example/oauth/token",
        )
        response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert server.counters.tokens_issued == 0


async def test_served_urls_are_accepted_audiences_only_while_serving(
    clock: FakeClock, private_keys: dict[str, PrivateKey]
) -> None:
    """Under a fixed issuer the served loopback URL is an audience, and stops being one after."""
    server = AuthorizationServer(issuer="https://auth.example.test", clock=clock)
    server.register_client(CLIENT, jwks={"keys": [public_jwk(private_keys["P-256"], "k")]})

    def signed(aud: str) -> str:
        return assertion(private_keys["P-256"], alg="ES256", kid="k", now=clock.now, aud=aud)

    async with server.serve() as url:
        served = url + "/oauth/token"
        async with httpx.AsyncClient(base_url=url) as http:
            while_serving = await send(http, signed(served))
    async with server.client() as http:
        afterwards = await send(http, signed(served))

    assert while_serving.status_code == 200, while_serving.text
    assert afterwards.status_code == 401
    assert server.counters.tokens_issued == 1


@pytest.mark.usefixtures("jwt_server")
async def test_an_hour_long_assertion_is_accepted(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
) -> None:
    """exp one hour ahead, the longest PrivateKeyJWT sends, is within the server's limit."""
    token = assertion(
        private_keys["RSA"],
        alg="RS256",
        kid="RSA",
        now=clock.now,
        aud=server.token_endpoint,
        exp=clock.now + 3600,
    )
    response = await send(http, token)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("published_alg", [None, "EdDSA", "Ed25519"])
async def test_an_rfc_9864_ed25519_assertion_gets_a_token(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
    published_alg: str | None,
) -> None:
    """An assertion whose header says Ed25519 (RFC 9864 §2.2) is checked like one saying EdDSA."""
    jwk = public_jwk(private_keys["Ed25519"], "ed")
    if published_alg is not None:
        jwk["alg"] = published_alg
    server.register_client(CLIENT, jwks={"keys": [jwk]})
    claims = {"iss": CLIENT, "sub": CLIENT, "aud": server.token_endpoint,
              "exp": clock.now + 60, "jti": uuid.uuid4().hex}  # fmt: skip
    token = sign(claims, private_keys["Ed25519"], "Ed25519", headers={"kid": "ed"})

    response = await send(http, token)

    assert response.status_code == 200, response.text
    assert server.counters.tokens_issued == 1


async def test_a_key_published_for_another_algorithm_does_not_verify(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
) -> None:
    """A key registered with alg PS256 does not accept an RS256 signature made with it."""
    jwk = {**public_jwk(private_keys["RSA"], "rsa"), "alg": "PS256"}
    server.register_client(CLIENT, jwks={"keys": [jwk]})
    token = assertion(
        private_keys["RSA"], alg="RS256", kid="rsa", now=clock.now, aud=server.token_endpoint
    )

    response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_the_metadata_announces_the_librarys_algorithm_table(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The algorithms announced are the library's table, then client_secret_jwt's HMACs."""
    with anyio.fail_after(10):
        doc = (await http.get("/.well-known/openid-configuration")).json()

    announced = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert announced == [*SIGNATURE_ALGORITHMS, "HS256", "HS384", "HS512"]
    assert not any(alg.startswith("HS") or alg == "none" for alg in SIGNATURE_ALGORITHMS)


def test_the_server_signing_key_id_is_the_rfc_7638_thumbprint() -> None:
    """The server's kid is the library's RFC 7638 thumbprint of its published key."""
    from tokensources._jose import jwk_thumbprint

    (published,) = AuthorizationServer().jwks()["keys"]
    assert published["kid"] == jwk_thumbprint(published)


def _bad_cases(now: float) -> dict[str, dict[str, Any]]:
    return {
        "wrong-aud": {"aud": "https://elsewhere.example.com/oauth/token"},
        "expired": {"exp": now - 60},
        "exp-too-far": {"exp": now + 3600 + 60},
        "no-exp": {"exp": None},
        "no-jti": {"jti": None},
        "sub-differs": {"sub": "someone-else"},
        "not-yet-valid": {"nbf": now + 300},
    }


@pytest.mark.usefixtures("jwt_server")
@pytest.mark.parametrize(
    "case",
    ["wrong-aud", "expired", "exp-too-far", "no-exp", "no-jti", "sub-differs", "not-yet-valid"],
)
async def test_bad_assertion_claims_are_invalid_client(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
    case: str,
) -> None:
    """An assertion with a wrong aud, exp, nbf, sub or no jti answers 401 invalid_client."""
    overrides = _bad_cases(clock.now)[case]
    token = assertion(
        private_keys["RSA"],
        alg="RS256",
        kid="RSA",
        now=clock.now,
        **{"aud": server.token_endpoint, **overrides},
    )
    response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert token not in response.text
    assert server.counters.tokens_issued == 0


@pytest.mark.usefixtures("jwt_server")
async def test_a_signature_by_an_unregistered_key_is_invalid_client(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An assertion signed by a key the client did not register is rejected."""
    from cryptography.hazmat.primitives.asymmetric import ec

    stranger = ec.generate_private_key(ec.SECP256R1())
    token = assertion(stranger, alg="ES256", kid="P-256", now=clock.now, aud=server.token_endpoint)
    response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.usefixtures("jwt_server")
async def test_a_symmetric_algorithm_is_refused(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An HS256 assertion is refused (no algorithm confusion with a public key)."""
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": server.token_endpoint,
        "exp": clock.now + 60,
        "jti": "x",
    }
    token = jwt.encode(claims, "a-shared-secret-of-32-bytes-length!", algorithm="HS256")
    response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.usefixtures("jwt_server")
async def test_a_replayed_jti_is_invalid_client(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
) -> None:
    """The same assertion used twice while unexpired is rejected the second time."""
    token = assertion(
        private_keys["RSA"], alg="RS256", kid="RSA", now=clock.now, aud=server.token_endpoint
    )
    first = await send(http, token)
    clock.advance(30)
    second = await send(http, token)

    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["error"] == "invalid_client"
    assert (server.counters.tokens_issued, server.counters.token_errors) == (1, 1)


async def test_a_secret_client_cannot_use_an_assertion(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    private_keys: dict[str, PrivateKey],
) -> None:
    """An assertion naming a client registered without keys is rejected."""
    claims = {"iss": "demo-client", "sub": "demo-client", "aud": server.token_endpoint,
              "exp": clock.now + 60, "jti": "j1"}  # fmt: skip
    token = jwt.encode(claims, private_keys["RSA"], algorithm="RS256")
    response = await send(http, token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_an_assertion_type_without_assertion_is_invalid_request(
    http: httpx.AsyncClient,
) -> None:
    """client_assertion_type alone (or a wrong type) is a malformed request."""
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    with anyio.fail_after(10):
        response = await http.post("/oauth/token", data=form)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_registering_a_private_key_is_refused(private_keys: dict[str, PrivateKey]) -> None:
    """A JWK Set holding a private key is a configuration error."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from tokensources._errors import ConfigError

    key = private_keys["RSA"]
    assert isinstance(key, rsa.RSAPrivateKey)
    private_jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    with pytest.raises(ConfigError, match="public keys only"):
        AuthorizationServer().register_client("c", jwks={"keys": [private_jwk]})
