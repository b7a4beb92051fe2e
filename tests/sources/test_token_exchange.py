"""TokenExchange (RFC 8693) against the testing server, subjects from its workload issuer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
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
    TokenRequestError,
    TokenResponseError,
    TokenSource,
    reuse,
)
from tokensources.shared import InMemoryShared, SharedStore
from tokensources.sources._file_token import FileToken
from tokensources.sources._token_exchange import TokenExchange
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._token_files import KubernetesTokenFile
from tokensources.testing._workload_issuer import WorkloadIssuer

pytestmark = pytest.mark.anyio

ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
SA = "system:serviceaccount:default:workload"


@pytest.fixture
def server(clock: FakeClock) -> AuthorizationServer:
    """A testing server with an https issuer, reached in-process."""
    return AuthorizationServer(issuer="https://idp.example.com", clock=clock)


@pytest.fixture
def workload(server: AuthorizationServer) -> WorkloadIssuer:
    """The platform the server trusts."""
    return server.workload_issuer


@pytest.fixture
def volume(
    tmp_path: Path, workload: WorkloadIssuer, server: AuthorizationServer
) -> KubernetesTokenFile:
    """A projected token file holding a token for the server (aud = its issuer)."""
    volume = KubernetesTokenFile(tmp_path / "tokens")
    volume.write(workload.mint_kubernetes(audience=server.issuer, lifetime=600))
    return volume


def _client(server: AuthorizationServer, http: httpx.AsyncClient) -> ClientCredentials:
    return ClientCredentials(server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http)


def _exchange(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    subject: TokenSource,
    clock: FakeClock,
    **kw: Any,
) -> TokenExchange:
    return TokenExchange(
        server.token_endpoint,
        subject,
        client=_client(server, http),
        http=http,
        clock=clock,
        **kw,
    )


def _claims(token: Token) -> dict[str, object]:
    return jwt.decode(token.access_token, options={"verify_signature": False})


async def test_exchange_gives_a_token_for_the_workload(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    volume: KubernetesTokenFile,
    clock: FakeClock,
) -> None:
    """The issued token names the workload as sub and the client as client_id."""
    source = _exchange(
        server, http, FileToken(volume.path, clock=clock), clock, scopes="read:messages"
    )
    token = await source.token()
    claims = _claims(token)
    assert (claims["sub"], claims["client_id"], claims["scope"]) == (
        SA,
        DEMO_CLIENT_ID,
        "read:messages",
    )
    assert token.extra["issued_token_type"] == ACCESS_TOKEN
    assert server.counters.tokens_issued == 1


async def test_subject_is_read_afresh_for_each_exchange(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    volume: KubernetesTokenFile,
    workload: WorkloadIssuer,
    clock: FakeClock,
) -> None:
    """A rotated token file is what the next exchange sends; the expired one never is."""
    subject = FileToken(volume.path, clock=clock)
    source = _exchange(server, http, subject, clock)
    await source.token()
    clock.advance(600)  # the first subject is over: sending it would be invalid_grant
    volume.write(workload.mint_kubernetes(audience=server.issuer, lifetime=600))
    await source.token()
    assert subject.reads == 2
    assert server.counters.token_errors == 0


async def test_expired_subject_is_refused_before_sending(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """An expired subject raises TokenExpiredError and no request is made."""
    jwt_text = workload.mint_kubernetes(audience=server.issuer, lifetime=60)
    subject = Static(Token(jwt_text, expires_at=clock.now + 60), clock=clock)
    source = _exchange(server, http, subject, clock)
    clock.advance(61)
    with pytest.raises(TokenExpiredError) as info:
        await source.token()
    assert jwt_text not in str(info.value)
    assert server.counters.token_requests == 0


@pytest.mark.parametrize("problem", ["untrusted issuer", "wrong audience", "expired"])
async def test_untrusted_subject_is_invalid_grant(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    workload: WorkloadIssuer,
    clock: FakeClock,
    problem: str,
) -> None:
    """A subject the server does not trust is a definitive invalid_grant without the token."""
    if problem == "untrusted issuer":
        jwt_text = workload.mint("x", server.issuer, issuer="https://elsewhere.example")
    elif problem == "wrong audience":
        jwt_text = workload.mint("x", "https://someone-else.example")
    else:
        jwt_text = workload.mint("x", server.issuer, lifetime=10)
    # A bare string: no known expiry on our side, so only the server can refuse it.
    source = _exchange(server, http, Static(jwt_text), clock)
    clock.advance(20)
    with pytest.raises(TokenEndpointError) as info:
        await source.token()
    assert info.value.error == "invalid_grant"
    assert not info.value.transient
    assert jwt_text not in str(info.value)
    assert jwt_text not in repr(info.value)


async def test_bound_to_subject_never_outlives_it(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """With bound_to_subject, the token expires when the subject does, not at expires_in."""
    jwt_text = workload.mint_kubernetes(audience=server.issuer, lifetime=120)
    subject = Static(Token(jwt_text, expires_at=clock.now + 120), clock=clock)
    unbound = await _exchange(server, http, subject, clock).token()
    bound = await _exchange(server, http, subject, clock, bound_to_subject=True).token()
    assert unbound.expires_at == pytest.approx(clock.now + 3600)
    assert bound.expires_at == clock.now + 120


async def test_server_bound_to_subject(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """A server configured so issues tokens that end with their subject."""
    workload.bound_to_subject = True
    jwt_text = workload.mint_kubernetes(audience=server.issuer, lifetime=90)
    token = await _exchange(server, http, Static(jwt_text), clock).token()
    assert token.expires_at == pytest.approx(clock.now + 90, abs=1)


async def test_other_issued_token_type_is_refused(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """An answer of another issued_token_type than requested is a TokenResponseError."""
    server.enqueue_response(
        200,
        {
            "access_token": "opaque-issued",
            "token_type": "N_A",
            "issued_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "expires_in": 60,
        },
    )
    source = _exchange(
        server,
        http,
        Static(workload.mint("x", server.issuer)),
        clock,
        requested_token_type="access_token",
    )
    with pytest.raises(TokenResponseError, match="id_token") as info:
        await source.token()
    assert "opaque-issued" not in str(info.value)


async def test_failing_subject_source_is_the_cause(
    server: AuthorizationServer, http: httpx.AsyncClient, tmp_path: Path, clock: FakeClock
) -> None:
    """A subject source that fails transiently gives a TokenRequestError caused by its error."""
    source = _exchange(server, http, FileToken(tmp_path / "missing", clock=clock), clock)
    with pytest.raises(TokenRequestError, match="subject source failed") as info:
        await source.token()
    assert isinstance(info.value.__cause__, TokenRequestError)
    assert server.counters.token_requests == 0


async def test_exchanges_nest(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    volume: KubernetesTokenFile,
    clock: FakeClock,
) -> None:
    """The token of one exchange is the subject of the next (STS, then impersonation)."""
    first = _exchange(server, http, FileToken(volume.path, clock=clock), clock)
    second = _exchange(
        server, http, reuse(first, clock=clock), clock, subject_token_type="access_token"
    )
    token = await second.token()
    assert _claims(token)["sub"] == SA
    assert server.counters.tokens_issued == 2


async def test_actor_becomes_act(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """An actor token is sent with its type and appears as the act claim."""
    subject = Static(workload.mint("user-1", server.issuer))
    actor = Static(workload.mint_github(audience=server.issuer))
    token = await _exchange(server, http, subject, clock, actor=actor).token()
    claims = _claims(token)
    assert claims["sub"] == "user-1"
    assert claims["act"] == {
        "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
        "iss": "https://token.actions.githubusercontent.com",
    }


async def test_audience_not_allowed_is_invalid_target(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    volume: KubernetesTokenFile,
    clock: FakeClock,
) -> None:
    """An audience the client may not ask for is invalid_target."""
    source = _exchange(
        server, http, FileToken(volume.path, clock=clock), clock, audience="https://other"
    )
    with pytest.raises(TokenEndpointError) as info:
        await source.token()
    assert info.value.error == "invalid_target"


async def test_cold_cache_makes_one_exchange_and_one_read(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    volume: KubernetesTokenFile,
    clock: FakeClock,
) -> None:
    """500 concurrent callers on a cold reuse() cache: one exchange, one subject read."""
    subject = FileToken(volume.path, clock=clock)
    cached = reuse(_exchange(server, http, subject, clock), clock=clock)
    seen: list[Token] = []

    async def call() -> None:
        seen.append(await cached.token())

    async with anyio.create_task_group() as tg:
        for _ in range(500):
            tg.start_soon(call)
    assert len(seen) == 500
    assert len({t.access_token for t in seen}) == 1
    assert server.counters.token_requests == 1
    assert subject.reads == 1


def test_identity_follows_the_workload_not_the_token(
    tmp_path: Path, workload: WorkloadIssuer, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Replicas of one workload share an identity; another workload or audience does not."""

    def source(name: str, account: str, audience: str | None = None) -> TokenExchange:
        volume = KubernetesTokenFile(tmp_path / name)
        volume.write(
            workload.mint_kubernetes(service_account=account, pod=name, audience=server.issuer)
        )
        return TokenExchange(
            server.token_endpoint, FileToken(volume.path), audience=audience, clock=clock
        )

    replica_a, replica_b = source("a", "api"), source("b", "api")
    other = source("c", "batch")
    assert replica_a.cache_identity == replica_b.cache_identity
    assert replica_a.cache_identity != other.cache_identity
    assert replica_a.cache_identity != source("d", "api", "https://x").cache_identity


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subject_token_type": "nonsense"}, "subject_token_type"),
        ({"requested_token_type": "has space:x"}, "requested_token_type"),
        ({"actor_token_type": "jwt"}, "without an actor"),
        ({"resource": ""}, "resource"),
        ({"params": {"subject_token": "x"}}, "subject_token"),
        ({"client": "secret"}, "client"),
    ],
)
def test_bad_input_is_a_config_error(kwargs: dict[str, object], match: str) -> None:
    """Each bad argument is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=match):
        TokenExchange("https://sts.example.com/token", Static("s"), **kwargs)  # type: ignore[arg-type]


def test_subject_must_be_a_source() -> None:
    """A string where a source belongs is refused."""
    with pytest.raises(ConfigError, match="subject"):
        TokenExchange("https://sts.example.com/token", "a-token")  # type: ignore[arg-type]


async def test_public_exchange_sends_no_client_credentials(
    server: AuthorizationServer, http: httpx.AsyncClient, workload: WorkloadIssuer, clock: FakeClock
) -> None:
    """With client=None nothing but the subject authenticates (Google's STS works so)."""
    provider = (
        "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k"
    )
    workload.audiences.add(provider)
    subject = Static(workload.mint_kubernetes(audience=provider))
    source = TokenExchange(
        server.token_endpoint, subject, audience=provider, http=http, clock=clock
    )
    token = await source.token()
    assert _claims(token)["aud"] == provider
    [entry] = server.log.requests(path="/oauth/token")
    assert entry.auth_method == "none"


async def test_replicas_share_one_exchange_through_a_shared_cache(
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    workload: WorkloadIssuer,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    """Two replicas (own files, same service account) share one token; another workload not."""
    store = SharedStore()

    def replica(name: str, account: str) -> InMemoryShared:
        volume = KubernetesTokenFile(tmp_path / name)
        token = workload.mint_kubernetes(service_account=account, pod=name, audience=server.issuer)
        volume.write(token)
        exchange = _exchange(server, http, FileToken(volume.path, clock=clock), clock)
        return InMemoryShared(exchange, store=store, clock=clock)

    first, second, other = replica("a", "api"), replica("b", "api"), replica("c", "batch")
    assert (await first.token()).access_token == (await second.token()).access_token
    assert (await other.token()).access_token != (await first.token()).access_token
    assert server.counters.token_requests == 2
