"""GitHubActionsOIDC: the job's ID token, from a loopback stand-in of the Actions service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import ConfigError, TokenEndpointError, TokenResponseError, reuse
from tokensources.sources._github_actions import GitHubActionsOIDC
from tokensources.testing._actions_service import ActionsTokenService
from tokensources.testing._asgi import (
    Receive,
    Scope,
    Send,
    json_response,
    read_request,
    send_response,
)
from tokensources.testing._loopback import serve_asgi
from tokensources.testing._workload_issuer import GITHUB_ISSUER, WorkloadIssuer

pytestmark = pytest.mark.anyio


@pytest.fixture
def service(clock: FakeClock) -> ActionsTokenService:
    """The Actions ID token service, signing with a GitHub-shaped workload issuer."""
    return ActionsTokenService(WorkloadIssuer(GITHUB_ISSUER, clock=clock))


@pytest.fixture
async def environ(service: ActionsTokenService) -> AsyncIterator[dict[str, str]]:
    """A job's environment with ``id-token: write``, the service on loopback."""
    async with serve_asgi(service) as url:
        yield service.environ(url)


async def test_id_token_for_the_audience(environ: dict[str, str], clock: FakeClock) -> None:
    """The token is the service's JWT for the audience asked for, expiring at its exp."""
    async with GitHubActionsOIDC("sts.amazonaws.com", environ=environ, clock=clock) as source:
        token = await source.token()
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["aud"] == "sts.amazonaws.com"
    assert claims["sub"] == "repo:octo-org/octo-repo:ref:refs/heads/main"
    assert claims["iss"] == GITHUB_ISSUER
    assert token.expires_at == claims["exp"]


async def test_default_audience_is_github_s(environ: dict[str, str]) -> None:
    """Without audience, no audience parameter is sent and GitHub's default applies."""
    async with GitHubActionsOIDC(environ=environ) as source:
        token = await source.token()
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["aud"] == "https://github.com/octo-org"


async def test_reuse_asks_once_per_lifetime(
    environ: dict[str, str], service: ActionsTokenService, clock: FakeClock
) -> None:
    """Under reuse(), many calls make one request until the ID token ends."""
    source = GitHubActionsOIDC("api://AzureADTokenExchange", environ=environ, clock=clock)
    async with reuse(source, clock=clock) as cached:
        for _ in range(20):
            await cached.token()
        assert service.requests == 1
        clock.advance(301)
        await cached.token()
    assert service.requests == 2


async def test_wrong_request_token_is_an_endpoint_error(environ: dict[str, str]) -> None:
    """A refused request bearer is a TokenEndpointError that does not show the bearer."""
    bad = {**environ, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-the-request-token"}
    async with GitHubActionsOIDC(environ=bad) as source:
        with pytest.raises(TokenEndpointError) as info:
            await source.token()
    assert info.value.status_code == 401
    assert "not-the-request-token" not in str(info.value)
    assert "not-the-request-token" not in repr(source)


async def test_unknown_path_is_an_endpoint_error(environ: dict[str, str]) -> None:
    """A request URL the service does not know (404) is a TokenEndpointError."""
    url = environ["ACTIONS_ID_TOKEN_REQUEST_URL"].replace("/idtoken", "/elsewhere")
    async with GitHubActionsOIDC(
        environ={**environ, "ACTIONS_ID_TOKEN_REQUEST_URL": url}
    ) as source:
        with pytest.raises(TokenEndpointError) as info:
            await source.token()
    assert info.value.status_code == 404


async def _not_a_jwt(scope: Scope, receive: Receive, send: Send) -> None:
    await read_request(scope, receive)
    await send_response(send, json_response(200, {"count": 1, "value": "opaque-value"}))


async def test_answer_without_a_jwt_is_a_response_error() -> None:
    """An answer whose value is not a JWT is a TokenResponseError that does not show it."""
    async with serve_asgi(_not_a_jwt) as url:
        environ = {
            "ACTIONS_ID_TOKEN_REQUEST_URL": url + "/t",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "b",
        }
        async with GitHubActionsOIDC(environ=environ) as source:
            with pytest.raises(TokenResponseError, match="no JWT") as info:
                await source.token()
    assert "opaque-value" not in str(info.value)


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({}, "inside a GitHub Actions job"),
        ({"GITHUB_ACTIONS": "true"}, "id-token: write"),
        ({"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x"}, "id-token"),
    ],
)
def test_outside_actions_or_without_permission(environ: dict[str, str], match: str) -> None:
    """Outside Actions, or without id-token: write, the constructor says so."""
    with pytest.raises(ConfigError, match=match):
        GitHubActionsOIDC(environ=environ)


def test_empty_audience_is_refused() -> None:
    """An empty audience is a ConfigError."""
    with pytest.raises(ConfigError, match="audience"):
        GitHubActionsOIDC("", environ={})


def test_subject_claims_come_from_the_job(service: ActionsTokenService) -> None:
    """subject_claims names the issuer, audience, repository and ref of the job."""
    environ = service.environ("https://pipelines.actions.githubusercontent.com/abc")
    claims = GitHubActionsOIDC("aud-1", environ=environ).subject_claims()
    assert claims["iss"] == GITHUB_ISSUER
    assert (claims["aud"], claims["repository"], claims["ref"]) == (
        "aud-1",
        "octo-org/octo-repo",
        "refs/heads/main",
    )
