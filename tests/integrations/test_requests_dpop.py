"""tokensources.requests sends DPoP for bound tokens: real ``requests`` against the loopback server.

The testing server demands DPoP of the demo client, and nonces at its token
endpoint and at ``/api/private``; every proof is checked there. ``requests``
is sync; each test runs the source's private loop on both anyio backends
(``portal_backend``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from tests.test_blocking import in_threads
from tokensources import ClientCredentials, ConfigError, DPoPKey, Static, Token
from tokensources.requests import TokenAuth
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.wrappers import Reuse, reuse
from tokensources.wrappers._hooks import event_counts

THREADS = 100
TIMEOUT = 10
PRIVATE = "/api/private"
pytestmark = pytest.mark.parametrize("backend", ["asyncio", "trio"])


def nonce_retries() -> int:
    """How many DPoP nonce retries the process has made so far."""
    return event_counts().get("dpop_nonce_retry", 0)


def demanding_dpop(server: AuthorizationServer) -> AuthorizationServer:
    """``server``, demanding DPoP of the demo client and nonces at its token endpoint and API."""
    server.dpop.require(DEMO_CLIENT_ID)
    server.dpop.require_nonce = True
    server.dpop.api.require_nonce = True
    return server


def bound_source(server: AuthorizationServer, key: DPoPKey | None) -> Reuse:
    """A cache of the demo client's tokens, bound to ``key`` (bearer tokens without one)."""
    return reuse(
        ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            scopes=["read:messages"],
            dpop=key,
        )
    )


def rejections_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The log lines that start a rejection backoff."""
    return [r.getMessage() for r in caplog.records if "rejected a fresh token" in r.getMessage()]


@pytest.fixture
def served() -> Iterator[tuple[AuthorizationServer, str]]:
    """The testing server on loopback, in a background thread, demanding DPoP and nonces."""
    server = demanding_dpop(AuthorizationServer())
    with server.serve_in_thread() as base:
        yield server, base


def test_a_bound_token_is_accepted_after_one_nonce_retry(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """The first call learns the API's nonce in one retry (in ``history``); the next needs none."""
    server, base = served
    key = DPoPKey.generate()
    before = nonce_retries()
    with TokenAuth(bound_source(server, key), portal_backend=backend) as auth:
        first = requests.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)
        second = requests.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)

    assert (first.status_code, second.status_code) == (200, 200)
    assert [r.status_code for r in first.history] == [401]
    assert second.history == []
    assert first.request.headers["Authorization"].startswith("DPoP ")
    assert nonce_retries() - before == 2  # one at the token endpoint, one at the API
    assert server.dpop.api.counters.nonce_challenges == 1
    assert server.dpop.api.counters.accepted == 2
    assert server.log.requests(endpoint="api")[-1].dpop_jkt == key.thumbprint
    assert server.counters.tokens_issued == 1


def test_100_threads_on_a_cold_cache_share_one_token_and_retry_at_most_once(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """100 threads: all 200, one token, and no request sent more than twice."""
    server, base = served
    with TokenAuth(bound_source(server, DPoPKey.generate()), portal_backend=backend) as auth:

        def call() -> tuple[int, int]:
            with requests.Session() as session:
                response = session.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)
                return response.status_code, len(response.history)

        outcomes = in_threads(THREADS, call)

    assert [status for status, _ in outcomes] == [200] * THREADS
    assert all(sent_before <= 1 for _, sent_before in outcomes)
    challenges = server.dpop.api.counters.nonce_challenges
    assert challenges == sum(sent_before for _, sent_before in outcomes)
    assert server.counters.api_requests == THREADS + challenges
    assert server.counters.tokens_issued == 1


def test_a_nonce_challenge_is_retried_once_and_rejects_nothing(
    served: tuple[AuthorizationServer, str], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After a nonce rotation: one resend with the same token, no token request, no backoff."""
    server, base = served
    source = bound_source(server, DPoPKey.generate())
    with TokenAuth(source, portal_backend=backend) as auth, requests.Session() as api:
        api.auth = auth
        assert api.get(base + PRIVATE, timeout=TIMEOUT).status_code == 200
        token = source.peek()
        server.dpop.rotate_nonce()
        response = api.get(base + PRIVATE, timeout=TIMEOUT)

    assert response.status_code == 200
    challenge = response.history[0]
    assert [r.status_code for r in response.history] == [401]
    assert challenge.request.headers["Authorization"] == response.request.headers["Authorization"]
    assert challenge.request.headers["DPoP"] != response.request.headers["DPoP"]
    assert source.peek() is token
    assert server.counters.tokens_issued == 1
    assert rejections_logged(caplog) == []


def test_a_body_that_cannot_be_replayed_is_not_resent(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A generator body meets a nonce challenge: one send, the 401 returned, the token kept."""
    server, base = served
    source = bound_source(server, DPoPKey.generate())
    with TokenAuth(source, portal_backend=backend) as auth:
        streamed = requests.get(base + PRIVATE, data=iter([b"chunk"]), auth=auth, timeout=TIMEOUT)
        kept = source.peek() is not None
        after = requests.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)

    assert (streamed.status_code, kept, after.status_code) == (401, True, 200)
    assert after.history == []  # the nonce of the 401 was learned
    assert server.counters.api_requests == 2
    assert server.counters.tokens_issued == 1


def test_a_bearer_token_never_gets_a_proof(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A server without DPoP answers Bearer: no proof, even on the resend after a bound token."""
    server, base = served
    source = bound_source(server, DPoPKey.generate())
    with TokenAuth(source, portal_backend=backend) as auth, requests.Session() as api:
        api.auth = auth
        assert api.get(base + PRIVATE, timeout=TIMEOUT).status_code == 200
        server.dpop.supported = False  # from now on bearer tokens, and proofs ignored
        server.rotate_keys()  # the bound token is rejected: 401, a bearer token, a resend
        response = api.get(base + PRIVATE, timeout=TIMEOUT)

    assert response.status_code == 200
    assert response.request.headers["Authorization"].startswith("Bearer ")
    assert "DPoP" not in response.request.headers
    assert server.log.requests(endpoint="api")[-1].dpop_proof is False
    assert server.counters.tokens_issued == 2


def test_a_token_bound_to_a_key_not_loaded_is_a_config_error(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """A bound token whose key is not in this process: ConfigError, never the token, no request."""
    server, base = served
    source = Static(Token("secret-at", token_type="DPoP", jkt="x" * 43))
    with TokenAuth(source, portal_backend=backend) as auth:
        with pytest.raises(ConfigError, match="not loaded") as raised:
            requests.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)

    assert "secret-at" not in str(raised.value)
    assert server.counters.api_requests == 0


def test_the_backoff_warning_would_be_seen(caplog: pytest.LogCaptureFixture, backend: str) -> None:
    """``rejections_logged`` finds the backoff's warning (so its empty list above means none)."""
    logging.getLogger("tokensources").warning("x rejected a fresh token too (401)")
    assert len(rejections_logged(caplog)) == 1


def test_a_redirect_on_the_origin_gets_a_proof_of_its_own(
    served: tuple[AuthorizationServer, str], backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """307 to another path of the API: the next request is proved for its URL; none refused."""
    server, base = served
    key = DPoPKey.generate()
    with TokenAuth(bound_source(server, key), portal_backend=backend) as auth:
        requests.get(base + PRIVATE, auth=auth, timeout=TIMEOUT)  # learns the nonce
        moved = requests.get(base + "/api/redirect", auth=auth, timeout=TIMEOUT)

    assert moved.status_code == 200
    assert [hop.status_code for hop in moved.history] == [307]
    assert server.counters.tokens_issued == 1
    assert server.log.requests(endpoint="api", path=PRIVATE)[-1].dpop_jkt == key.thumbprint
    assert rejections_logged(caplog) == []


def test_a_redirect_to_another_origin_takes_neither_token_nor_proof(
    served: tuple[AuthorizationServer, str], backend: str
) -> None:
    """307 to another server: it sees no DPoP proof (and requests takes Authorization off)."""
    server, base = served
    elsewhere = AuthorizationServer()
    key = DPoPKey.generate()
    with (
        elsewhere.serve_in_thread() as other,
        TokenAuth(bound_source(server, key), portal_backend=backend) as auth,
    ):
        moved = requests.get(
            base + "/api/redirect", params={"to": other + "/api/public"}, auth=auth, timeout=TIMEOUT
        )

    assert moved.status_code == 200
    (arrived,) = elsewhere.log.requests(path="/api/public")
    assert not arrived.dpop_proof
