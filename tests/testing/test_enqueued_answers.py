"""Queued answers: enqueue_error and enqueue_response answer the next matching request."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import httpx
import pytest

from tokensources import ClientCredentials, ConfigError, TokenEndpointError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

GRANT = {"grant_type": "client_credentials"}
DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def post(
    http: httpx.AsyncClient, path: str = "/oauth/token", **kwargs: object
) -> httpx.Response:
    """POST a token request within a bound."""
    kwargs.setdefault("data", GRANT)
    kwargs.setdefault("auth", DEMO)
    with anyio.fail_after(10):
        return await http.post(path, **kwargs)  # type: ignore[arg-type]


async def test_enqueue_error_answers_the_next_token_request_once(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """The error answers one request with its code, description and Retry-After, then real ones."""
    server.enqueue_error(
        429, "slow_down", description="too fast", retry_after=2.5, uri="https://e.example"
    )

    first = await post(http)
    second = await post(http)

    assert first.status_code == 429
    assert first.json() == {
        "error": "slow_down",
        "error_description": "too fast",
        "error_uri": "https://e.example",
    }
    assert first.headers["retry-after"] == "3"
    assert first.headers["cache-control"] == "no-store"
    assert second.status_code == 200
    assert server.enqueued == []
    assert (server.counters.token_errors, server.counters.tokens_issued) == (1, 1)


async def test_a_queued_invalid_client_over_basic_carries_the_challenge(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """An enqueued invalid_client answers a Basic request as a real one would (RFC 6749 §5.2)."""
    server.enqueue_error(401, "invalid_client")

    answer = await post(http)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic realm=")


async def test_answers_match_by_client_and_grant_and_wait_for_their_request(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """An answer for one client skips other clients' requests and stays queued for its own."""
    server.register_client("billing", "billing-secret")
    server.enqueue_error(400, "invalid_grant", client_id="billing", grant_type="client_credentials")
    server.enqueue_error(400, "unauthorized_client", grant_type="urn:other")

    demo = await post(http)
    assert server.enqueued == [
        "enqueue_error(400, 'invalid_grant') for /oauth/token, client 'billing', "
        "grant 'client_credentials' (1 left)",
        "enqueue_error(400, 'unauthorized_client') for /oauth/token, grant 'urn:other' (1 left)",
    ]
    billing = await post(http, auth=("billing", "billing-secret"))
    other = await post(http, data={"grant_type": "urn:other"})

    assert demo.status_code == 200
    assert billing.json()["error"] == "invalid_grant"
    assert other.json()["error"] == "unauthorized_client"
    assert server.enqueued == []


async def test_enqueue_response_sends_exactly_the_body_and_headers(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A queued response is sent as given, for the number of times given."""
    body = {"access_token": "opaque-value", "token_type": "bearer", "expires_in": "60"}
    server.enqueue_response(200, body, headers={"X-Provider": "legacy"}, times=2)

    answers = [await post(http) for _ in range(3)]

    assert [a.json().get("access_token") for a in answers[:2]] == ["opaque-value"] * 2
    assert answers[0].headers["x-provider"] == "legacy"
    assert answers[2].json()["access_token"] != "opaque-value"
    assert server.counters.tokens_issued == 1  # only the real answer issued a token


async def test_an_answer_for_another_path_answers_that_path(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A JWKS or discovery path may be answered too; a tenant's paths are its own."""
    tenant = server.tenant("tenant-a")
    server.enqueue_response(503, "down", path="/.well-known/jwks.json")
    tenant.enqueue_error(500, "server_error")

    with anyio.fail_after(10):
        jwks = await http.get("/.well-known/jwks.json")
        root_token = await post(http)
        tenant_token = await post(http, "/tenant-a/oauth/token")

    assert (jwks.status_code, jwks.text) == (503, "down")
    assert root_token.status_code == 200
    assert (tenant_token.status_code, tenant_token.json()["error"]) == (500, "server_error")
    log = server.log.requests(outcome="enqueued")
    assert [(e.path, e.status, e.error) for e in log] == [
        ("/.well-known/jwks.json", 503, None),
        ("/tenant-a/oauth/token", 500, "server_error"),
    ]


async def test_the_librarys_client_sees_a_queued_error_as_the_provider_sent_it(
    server: AuthorizationServer,
) -> None:
    """ClientCredentials reports the queued error's code, status and Retry-After."""
    server.enqueue_error(503, "temporarily_unavailable", retry_after=4)
    async with server.client() as http:
        source = ClientCredentials(
            server.token_endpoint, *DEMO, http=http, allow_insecure_http=True
        )
        with pytest.raises(TokenEndpointError) as caught, anyio.fail_after(10):
            await source.token()

    assert (caught.value.error, caught.value.status_code) == ("temporarily_unavailable", 503)
    assert caught.value.retry_after == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"status": 99, "error": "x"}, "status"),
        ({"status": 400, "error": ""}, "error"),
        ({"status": 400, "error": "x", "times": 0}, "times"),
        ({"status": 400, "error": "x", "path": "oauth/token"}, "path"),
        (
            {"status": 503, "error": "x", "path": "/.well-known/jwks.json", "client_id": "a"},
            "never",
        ),
    ],
    ids=["status", "error", "times", "relative-path", "never-matches"],
)
async def test_an_answer_that_cannot_be_queued_is_refused(
    server: AuthorizationServer, arguments: dict[str, object], message: str
) -> None:
    """A bad status or an answer that could never match is refused when queued."""
    with pytest.raises(ConfigError, match=message):
        server.enqueue_error(**arguments)  # type: ignore[arg-type]

    assert server.enqueued == []


async def test_an_unconsumed_answer_is_reported_with_what_was_seen(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """assert_enqueued_consumed names the answer left and the requests seen on its path."""
    server.enqueue_error(400, "invalid_grant", client_id="nobody")
    await post(http)

    with pytest.raises(AssertionError) as caught:
        server.assert_enqueued_consumed()

    message = str(caught.value)
    assert "enqueue_error(400, 'invalid_grant') for /oauth/token, client 'nobody'" in message
    assert "client=demo-client" in message
    assert "-> 200 issued" in message


def test_the_pytest_fixture_reports_an_unconsumed_answer_at_teardown(tmp_path: Path) -> None:
    """A test that queued an answer no request matched ends with an error naming it."""
    (tmp_path / "test_forgotten.py").write_text(
        textwrap.dedent(
            """
            import httpx

            def test_queues_but_never_asks(oauth_server):
                oauth_server.enqueue_error(503, "temporarily_unavailable")

            def test_queues_and_asks(oauth_server, oauth_server_url):
                oauth_server.enqueue_error(503, "temporarily_unavailable")
                with httpx.Client(base_url=oauth_server_url, timeout=10) as http:
                    form = {"grant_type": "client_credentials"}
                    demo = ("demo-client", "demo-secret")
                    answer = http.post("/oauth/token", data=form, auth=demo)
                assert answer.status_code == 503
            """
        ),
        encoding="utf-8",
    )
    outcome = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )

    assert outcome.returncode == 1, outcome.stdout
    assert "2 passed, 1 error" in outcome.stdout
    assert "ERROR at teardown of test_queues_but_never_asks" in outcome.stdout
    assert "queued answer(s) never matched a request" in outcome.stdout
    assert "enqueue_error(503, 'temporarily_unavailable') for /oauth/token" in outcome.stdout
