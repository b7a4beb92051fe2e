"""tokensources.requests: real ``requests`` against the testing server on loopback.

``requests`` is sync; each test runs the source's private loop on both
anyio backends (``portal_backend``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from tests.test_blocking import in_threads
from tokensources import ClientCredentials, ConfigError, Token, TokenEndpointError
from tokensources.requests import TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse

THREADS = 100
TIMEOUT = 10
pytestmark = pytest.mark.parametrize("backend", ["asyncio", "trio"])


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a background thread."""
    server = AuthorizationServer()
    with server.serve_in_thread() as base:
        yield server, base


def _source(server: AuthorizationServer) -> Reuse:
    return reuse(
        ClientCredentials(
            server.token_endpoint, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, scopes=["read:messages"]
        )
    )


def test_100_threads_on_a_cold_cache_cause_one_token_request(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """100 threads, each with its own session, all get 200 and share one token request."""
    server, base = served
    with TokenAuth(_source(server), portal_backend=backend) as auth:

        def call() -> int:
            with requests.Session() as session:
                return session.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT).status_code

        statuses = in_threads(THREADS, call)
    assert statuses == [200] * THREADS
    assert server.counters.token_requests == 1
    assert server.counters.api_requests == THREADS


def test_a_401_invalidates_and_resends_once(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """After a key rotation the API answers 401: one new token, one resend, 200."""
    server, base = served
    with TokenAuth(_source(server), portal_backend=backend) as auth, requests.Session() as api:
        api.auth = auth
        assert api.get(f"{base}/api/private", timeout=TIMEOUT).status_code == 200
        server.rotate_keys()
        response = api.get(f"{base}/api/private", timeout=TIMEOUT)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert server.counters.token_requests == 2


class Rejected:
    """A source of tokens the API never accepts, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def token(self) -> Token:
        self.calls += 1
        return Token(f"not-a-jwt-{self.calls}")

    def invalidate(self, token: Token) -> None:
        pass


def test_a_second_401_is_returned_as_it_is(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """An API that rejects the fresh token too gets two requests in all, not a loop."""
    server, base = served
    rejected = Rejected()
    with TokenAuth(reuse(rejected), portal_backend=backend) as auth:
        response = requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT)
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401]
    assert rejected.calls == 2
    assert server.counters.api_requests == 2


def test_many_401s_for_one_token_cost_one_token_request(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """After a key rotation, 50 threads see 401s but cause one new token request."""
    server, base = served
    with TokenAuth(_source(server), portal_backend=backend) as auth:
        assert requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT).status_code == 200
        server.rotate_keys()
        statuses = in_threads(
            50, lambda: requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT).status_code
        )
    assert statuses == [200] * 50
    assert server.counters.token_requests == 2


def test_a_streamed_body_is_not_resent_but_its_token_is_dropped(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A generator body cannot be replayed: the 401 is returned, the next request refreshes."""
    server, base = served
    source = _source(server)
    with TokenAuth(source, portal_backend=backend) as auth:
        assert requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT).status_code == 200
        server.rotate_keys()
        streamed = requests.get(
            f"{base}/api/private", data=iter([b"chunk"]), auth=auth, timeout=TIMEOUT
        )
        assert source.peek() is None
        after = requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT)
    assert streamed.status_code == 401
    assert streamed.history == []
    assert after.status_code == 200
    assert server.counters.token_requests == 2


def test_token_endpoint_errors_reach_the_caller(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A failed token request raises TokenEndpointError from requests.get, without the secret."""
    server, base = served
    server.enqueue_error(400, "invalid_scope")
    with TokenAuth(_source(server), portal_backend=backend) as auth:
        with pytest.raises(TokenEndpointError) as raised:
            requests.get(f"{base}/api/private", auth=auth, timeout=TIMEOUT)
    assert raised.value.error == "invalid_scope"
    assert DEMO_CLIENT_SECRET not in str(raised.value)
    assert server.counters.api_requests == 0


def test_a_source_of_the_wrong_kind_fails_at_construction(backend: str) -> None:
    """A string, a token or a sync callable is a ConfigError when the auth is built."""
    for wrong in ("t0k3n", Token("t0k3n"), lambda: "t0k3n", threading.Lock()):
        with pytest.raises(ConfigError, match=r"tokensources\.requests\.TokenAuth"):
            TokenAuth(wrong, portal_backend=backend)  # type: ignore[arg-type]
