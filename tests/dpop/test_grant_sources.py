"""``dpop=`` on every grant source: bound tokens from the first request, one flight, shared by key.

Against the testing server in-process, with DPoP required for the demo
client and nonces demanded at the token endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.clock import FakeClock
from tests.support.mtls import issued
from tokensources import (
    ClientAssertion,
    ClientCredentials,
    ClientSecretJWT,
    ConfigError,
    DPoPKey,
    InMemoryShared,
    JWTBearer,
    MutualTLS,
    PrivateKeyJWT,
    Token,
    TokenExchange,
    reuse,
)
from tokensources._identity import grant_identity, identity_digest
from tokensources.shared import SharedStore
from tokensources.sources._grant import Grant
from tokensources.sources._signing_keys import load_signing_key
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._dpop import TokenEndpointDPoP

pytestmark = pytest.mark.anyio

CALLERS = 1_000
URL = "https://idp.example/oauth/token"
PEM_KEY = DPoPKey.generate()
# The client's own assertion key (not a DPoP key): one for the whole module, RSA is slow to make.
_CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_PAIR = issued(trustme.CA())


def _credentials(
    http: httpx.AsyncClient, server: AuthorizationServer, key: DPoPKey | None, clock: FakeClock
) -> ClientCredentials:
    return ClientCredentials(
        server.token_endpoint,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        dpop=key,
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )


@pytest.fixture
def demanding(dpop: TokenEndpointDPoP) -> TokenEndpointDPoP:
    """The token endpoint with DPoP required for the demo client and nonces demanded."""
    dpop.require(DEMO_CLIENT_ID)
    dpop.require_nonce = True
    return dpop


async def test_a_cold_storm_costs_one_nonce_retry_and_one_token(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    demanding: TokenEndpointDPoP,
) -> None:
    """1 000 concurrent token() on a cold reuse(): two token requests, one bound token for all."""
    key = DPoPKey.generate(clock=clock)
    source = reuse(_credentials(http, server, key, clock), clock=clock)
    tokens: list[Token] = []

    async def call() -> None:
        tokens.append(await source.token())

    async with anyio.create_task_group() as group:
        for _ in range(CALLERS):
            group.start_soon(call)

    assert len(tokens) == CALLERS
    assert len({token.access_token for token in tokens}) == 1
    assert server.counters.token_requests == 2
    assert demanding.counters.nonce_challenges == 1
    assert demanding.counters.bound_tokens == 1
    token = tokens[0]
    assert token.token_type == "DPoP"
    assert token.jkt == key.thumbprint
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": key.thumbprint}


async def test_a_known_nonce_is_sent_from_the_start(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    demanding: TokenEndpointDPoP,
) -> None:
    """Once the nonce is learned, the next token request carries it: one request, no challenge."""
    source = _credentials(http, server, DPoPKey.generate(clock=clock), clock)
    await source.token()
    before = server.counters.token_requests

    await source.token()

    assert server.counters.token_requests - before == 1
    assert demanding.counters.nonce_challenges == 1


async def test_a_private_key_jwt_source_gets_a_bound_token_after_a_nonce_retry(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock, dpop: TokenEndpointDPoP
) -> None:
    """PrivateKeyJWT with dpop=: the retry has a fresh assertion (the server's jti check passes)."""
    server.register_client("pkjwt", jwks={"keys": [_public_jwk()]})
    dpop.require("pkjwt")
    dpop.require_nonce = True
    key = DPoPKey.generate(clock=clock)
    source = PrivateKeyJWT(
        server.token_endpoint,
        "pkjwt",
        _private_pem(),
        http=http,
        clock=clock,
        dpop=key,
        allow_insecure_http=True,
    )

    token = await source.token()

    assert token.jkt == key.thumbprint
    assert server.counters.token_requests == 2
    assert dpop.counters.nonce_challenges == 1


async def test_sources_with_the_same_key_share_and_other_keys_do_not(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
    demanding: TokenEndpointDPoP,
) -> None:
    """InMemoryShared: sources with one key share one token; another key gets its own."""
    store = SharedStore()
    key, other = DPoPKey.generate(clock=clock), DPoPKey.generate(clock=clock)
    first = InMemoryShared(_credentials(http, server, key, clock), store=store)
    second = InMemoryShared(_credentials(http, server, key, clock), store=store)
    third = InMemoryShared(_credentials(http, server, other, clock), store=store)

    one, two = await first.token(), await second.token()
    issued = demanding.counters.bound_tokens
    three = await third.token()

    assert one == two
    assert issued == 1
    assert demanding.counters.bound_tokens == 2
    assert three.jkt == other.thumbprint
    assert three.access_token != one.access_token


async def test_a_bearer_and_a_dpop_source_never_share(
    server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The same client with and without a DPoP key: different identities, different tokens."""
    store = SharedStore()
    bearer = InMemoryShared(_credentials(http, server, None, clock), store=store)
    bound = InMemoryShared(
        _credentials(http, server, DPoPKey.generate(clock=clock), clock), store=store
    )

    plain, proofed = await bearer.token(), await bound.token()

    assert plain.token_type == "Bearer"
    assert plain.jkt is None
    assert proofed.token_type == "DPoP"
    assert server.counters.tokens_issued == 2


def test_the_identity_of_a_bearer_source_is_unchanged() -> None:
    """Without a DPoP key, a grant's identity is the digest of exactly the fields it had before."""
    fields: dict[str, Any] = {
        "token_url": URL,
        "client_id": "c",
        "client_auth": ("client_secret_basic", "digest"),
        "scopes": ("b", "a"),
        "params": {"audience": "api"},
    }
    before = identity_digest(
        {
            "token_url": URL,
            "client_id": "c",
            "auth": "client_secret_basic",
            "scopes": ["a", "b"],
            "params": [("audience", "api")],
            "credential": "digest",
        }
    )

    assert grant_identity(**fields) == before
    assert grant_identity(**fields, dpop_jkt=PEM_KEY.thumbprint) != before


def _subject() -> ClientCredentials:
    # Any source that can say whose tokens it gives (a cache_identity) will do.
    return ClientCredentials("https://workload.example/token", "workload", "s")


SOURCES: dict[str, Callable[[DPoPKey | None], Grant]] = {
    "ClientCredentials": lambda key: ClientCredentials(URL, "c", "s", dpop=key),
    "PrivateKeyJWT": lambda key: PrivateKeyJWT(URL, "c", _private_pem(), dpop=key),
    "ClientSecretJWT": lambda key: ClientSecretJWT(URL, "c", "s" * 32, dpop=key),
    "ClientAssertion": lambda key: ClientAssertion(URL, "c", _subject(), dpop=key),
    "MutualTLS": lambda key: MutualTLS(
        URL, "c", certificate=_PAIR.certificate, private_key=_PAIR.key, dpop=key
    ),
    "TokenExchange": lambda key: TokenExchange(URL, _subject(), dpop=key),
    "JWTBearer": lambda key: JWTBearer(URL, _subject(), dpop=key),
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_every_grant_source_takes_a_dpop_key(make: Callable[[DPoPKey | None], Grant]) -> None:
    """Each grant source keeps the key, and its identity names the key's thumbprint."""
    bound, other, bearer = make(PEM_KEY), make(DPoPKey.generate()), make(None)

    assert bound.dpop_key is PEM_KEY
    assert bearer.dpop_key is None
    assert len({bound.cache_identity, other.cache_identity, bearer.cache_identity}) == 3
    assert make(PEM_KEY).cache_identity == bound.cache_identity


def test_a_dpop_argument_that_is_not_a_key_is_refused() -> None:
    """dpop= takes a DPoPKey only; the error names the argument."""
    with pytest.raises(ConfigError, match="dpop"):
        ClientCredentials(URL, "c", "s", dpop="not-a-key")  # type: ignore[arg-type]


async def test_the_metadata_announces_the_proof_algorithms(
    server: AuthorizationServer, http: httpx.AsyncClient, dpop: TokenEndpointDPoP
) -> None:
    """dpop_signing_alg_values_supported is in the metadata while the endpoint supports DPoP."""
    document = (await http.get("/.well-known/openid-configuration")).json()
    dpop.supported = False
    without = (await http.get("/.well-known/openid-configuration")).json()

    assert "ES256" in document["dpop_signing_alg_values_supported"]
    assert "dpop_signing_alg_values_supported" not in without


def _private_pem() -> bytes:
    return _CLIENT_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_jwk() -> dict[str, str]:
    return dict(load_signing_key(_private_pem(), algorithm="RS256").public_jwk)
