"""The pytest fixtures and the threaded loopback server, used from synchronous tests."""

from __future__ import annotations

import httpx
import pytest

from tokensources.testing import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    AuthorizationServer,
    pytest_plugin,
)

DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
GRANT = {"grant_type": "client_credentials"}


def test_oauth_server_fixture_is_a_fresh_server(oauth_server: AuthorizationServer) -> None:
    """oauth_server is a new in-process server with the demo client and zero counters."""
    assert isinstance(oauth_server, AuthorizationServer)
    assert oauth_server.issuer == "http://testserver"
    assert oauth_server.counters.token_requests == 0
    assert oauth_server.verify_access_token(oauth_server.issue_token())["sub"] == DEMO_CLIENT_ID


def test_oauth_server_url_serves_the_oauth_server(
    oauth_server: AuthorizationServer, oauth_server_url: str
) -> None:
    """oauth_server_url is the loopback URL of the very server oauth_server is."""
    oauth_server.faults.fail_next(1, 503)
    with httpx.Client(base_url=oauth_server_url, timeout=10) as http:
        failed = http.post("/oauth/token", data=GRANT, auth=DEMO)
        issued = http.post("/oauth/token", data=GRANT, auth=DEMO)

    assert oauth_server_url.startswith("http://127.0.0.1:")
    assert oauth_server.issuer == oauth_server_url
    assert (failed.status_code, issued.status_code) == (503, 200)
    assert oauth_server.counters.by_client[DEMO_CLIENT_ID] == 2


def test_serve_in_thread_serves_synchronous_clients() -> None:
    """serve_in_thread works with a synchronous httpx client and stops cleanly."""
    server = AuthorizationServer()
    with server.serve_in_thread() as url, httpx.Client(base_url=url, timeout=10) as http:
        token = http.post("/oauth/token", data=GRANT, auth=DEMO)
        bearer = {"Authorization": "Bearer " + token.json()["access_token"]}
        api = http.get("/api/private", headers=bearer)
        assert server.issuer == url

    assert (token.status_code, api.status_code) == (200, 200)
    assert server.counters.tokens_issued == 1
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url, timeout=10) as http:
        http.get("/api/public")


def test_the_plugin_provides_exactly_its_two_fixtures() -> None:
    """The plugin exports its fixtures only (the package's names: test_exported_members)."""
    assert sorted(pytest_plugin.__all__) == ["oauth_server", "oauth_server_url"]
    for name in pytest_plugin.__all__:
        assert callable(getattr(pytest_plugin, name))
