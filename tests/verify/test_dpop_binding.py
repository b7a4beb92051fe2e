"""tokensources.verify checks a DPoP-bound token (cnf.jkt) with its proof (RFC 9449 §7)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import (
    ClientCredentials,
    ConfigError,
    DPoPKey,
    InvalidTokenError,
    TokenAuth,
    reuse,
)
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.verify import (
    BearerAuth,
    DPoPNonce,
    DPoPNonceError,
    DPoPProofChecker,
    DPoPProofError,
    authenticate,
    claims_from,
)
from tokensources.wrappers._hooks import event_counts

pytestmark = pytest.mark.anyio

API = "https://api.test"
URL = API + "/messages"
CONCURRENT = 200


def scope(
    token: str, proof: str | None = None, *, scheme: str = "DPoP", path: str = "/messages"
) -> dict[str, Any]:
    """An HTTP GET scope for ``API`` with the token and, when given, the proof."""
    headers = [(b"host", b"api.test"), (b"authorization", f"{scheme} {token}".encode())]
    if proof is not None:
        headers.append((b"dpop", proof.encode()))
    return {"type": "http", "scheme": "https", "method": "GET", "path": path, "headers": headers}


def bound(server: AuthorizationServer, key: DPoPKey) -> str:
    """An access token of ``server`` bound to ``key``."""
    return server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})


async def test_a_bound_token_with_its_proof_is_accepted(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """DPoP scheme, a proof by the token's key for this method and URL: the claims."""
    key = DPoPKey.generate()
    token = bound(server, key)
    proof = key.proof("GET", URL + "?q=1", access_token=token)

    claims = await authenticate(make_verifier(), scope(token, proof), dpop=DPoPProofChecker())

    assert claims["cnf"]["jkt"] == key.thumbprint


@pytest.mark.parametrize(
    "case", ["bearer", "no-proof", "other-key", "other-url", "other-method", "other-token"]
)
async def test_a_bound_token_without_its_proof_is_refused(
    case: str, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Presented as bearer, no proof, or a proof for another key, URL, method or token: refused."""
    key = DPoPKey.generate()
    token = bound(server, key)
    proofs = {
        "bearer": None,
        "no-proof": None,
        "other-key": DPoPKey.generate().proof("GET", URL, access_token=token),
        "other-url": key.proof("GET", API + "/other", access_token=token),
        "other-method": key.proof("POST", URL, access_token=token),
        "other-token": key.proof("GET", URL, access_token="another-token"),
    }
    request = scope(token, proofs[case], scheme="Bearer" if case == "bearer" else "DPoP")

    with pytest.raises(InvalidTokenError) as caught:
        await authenticate(make_verifier(), request, dpop=DPoPProofChecker())

    assert token not in str(caught.value)
    assert isinstance(caught.value, DPoPProofError) == (case != "bearer")


async def test_without_a_checker_dpop_tokens_are_refused(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """authenticate() without dpop= takes bearer tokens only."""
    key = DPoPKey.generate()
    token = bound(server, key)
    with pytest.raises(InvalidTokenError, match="Bearer"):
        await authenticate(make_verifier(), scope(token, key.proof("GET", URL, access_token=token)))


async def test_a_replayed_proof_is_refused_once_among_concurrent_requests(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """The same proof on many concurrent requests: one is accepted, every other one refused."""
    key = DPoPKey.generate()
    token = bound(server, key)
    proof = key.proof("GET", URL, access_token=token)
    verifier, checker = make_verifier(), DPoPProofChecker()
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await authenticate(verifier, scope(token, proof), dpop=checker)
        except DPoPProofError:
            outcomes.append("refused")
        else:
            outcomes.append("accepted")

    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENT):
            group.start_soon(attempt)

    assert outcomes.count("accepted") == 1
    assert outcomes.count("refused") == CONCURRENT - 1


async def test_a_nonce_is_demanded_and_the_previous_one_kept_for_the_grace() -> None:
    """DPoPNonce: the current nonce, the previous one for `grace` seconds, then only the new one."""
    clock = FakeClock()
    nonce = DPoPNonce(lifetime=60, grace=5, clock=clock)
    first = nonce.current
    clock.advance(60)
    second = nonce.current

    assert second != first
    assert nonce.accepted() == (second, first)
    clock.advance(5)
    assert nonce.accepted() == (second,)


async def test_a_proof_without_the_nonce_is_a_nonce_challenge(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """With a nonce demanded, a proof without it is DPoPNonceError; with it, accepted."""
    key = DPoPKey.generate()
    token = bound(server, key)
    nonce = DPoPNonce()
    verifier, checker = make_verifier(), DPoPProofChecker()

    with pytest.raises(DPoPNonceError):
        await authenticate(
            verifier,
            scope(token, key.proof("GET", URL, access_token=token)),
            dpop=checker,
            dpop_nonce=nonce,
        )
    proof = key.proof("GET", URL, access_token=token, nonce=nonce.current)
    claims = await authenticate(verifier, scope(token, proof), dpop=checker, dpop_nonce=nonce)
    assert claims["cnf"]["jkt"] == key.thumbprint


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_bearer_auth_answers_a_bad_proof_with_a_dpop_challenge(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A proof by another key: 401 WWW-Authenticate: DPoP error="invalid_dpop_proof"."""
    key = DPoPKey.generate()
    token = bound(server, key)
    proof = DPoPKey.generate().proof("GET", URL, access_token=token)
    protected = BearerAuth(_app, make_verifier())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url=API
    ) as client:
        answer = await client.get(
            "/messages", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
        )

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == (
        'DPoP error="invalid_dpop_proof", algs="ES256 ES384 EdDSA PS256 RS256"'
    )


async def test_token_auth_and_bearer_auth_with_nonces_end_to_end(
    make_verifier: MakeVerifier,
    server: AuthorizationServer,
    http: httpx.AsyncClient,
    clock: FakeClock,
) -> None:
    """A DPoP client against a DPoP resource that demands nonces: all 200, one nonce retry."""
    source = reuse(
        ClientCredentials(
            server.token_endpoint,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            dpop=DPoPKey.generate(clock=clock),
            http=http,
            clock=clock,
            allow_insecure_http=True,
        ),
        clock=clock,
    )
    nonce = DPoPNonce(clock=clock)
    checker = DPoPProofChecker(clock=clock)
    protected = BearerAuth(_app, make_verifier(), dpop=checker, dpop_nonce=nonce)
    before = event_counts().get("dpop_nonce_retry", 0)
    statuses: list[int] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected),
        base_url=API,
        auth=TokenAuth(source, clock=clock),
    ) as client:

        async def call() -> None:
            answer = await client.get("/messages")
            statuses.append(answer.status_code)
            assert answer.headers["dpop-nonce"] == nonce.current

        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENT):
                group.start_soon(call)

    assert statuses == [200] * CONCURRENT
    assert event_counts().get("dpop_nonce_retry", 0) - before == 1


def _behind_a_proxy(token: str, proof: str) -> dict[str, Any]:
    """What the application sees behind a proxy that terminates TLS: http, the internal host."""
    request = scope(token, proof)
    request["scheme"] = "http"
    request["headers"] = [
        (b"host", b"10.0.0.7:8000") if name == b"host" else (name, value)
        for name, value in request["headers"]
    ]
    return request


async def test_behind_a_proxy_public_url_names_the_origin_proofs_are_for(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A proof for the public https URL: refused by the internal view, accepted with public_url."""
    key = DPoPKey.generate()
    token = bound(server, key)
    checker = DPoPProofChecker()

    with pytest.raises(DPoPProofError):
        await authenticate(
            make_verifier(),
            _behind_a_proxy(token, key.proof("GET", URL, access_token=token)),
            dpop=checker,
        )
    claims = await authenticate(
        make_verifier(),
        _behind_a_proxy(token, key.proof("GET", URL, access_token=token)),
        dpop=checker,
        public_url="https://API.test/",
    )

    assert claims["cnf"]["jkt"] == key.thumbprint


async def test_bearer_auth_checks_proofs_against_its_public_url(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """With public_url behind a proxy: a proof for the public URL passes, the internal one not."""
    key = DPoPKey.generate()
    token = bound(server, key)
    protected = BearerAuth(_app, make_verifier(), public_url="https://api.test")
    statuses = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url="http://10.0.0.7:8000"
    ) as client:
        for target in (URL, "http://10.0.0.7:8000/messages"):
            proof = key.proof("GET", target, access_token=token)
            answer = await client.get(
                "/messages", headers={"Authorization": f"DPoP {token}", "DPoP": proof}
            )
            statuses.append(answer.status_code)

    assert statuses == [200, 401]


@pytest.mark.parametrize(
    "public_url",
    [
        "api.test",
        "https://api.test/v1#top",
        "https://api.test?x=1",
        "https://api.test/?",
        "ftp://api.test",
        "https://u@api.test",
        5,
        [],
        ["https://api.test", "/relative"],
    ],
)
async def test_a_public_url_that_is_not_a_base_url_is_a_config_error(
    public_url: Any, make_verifier: MakeVerifier
) -> None:
    """Scheme, host and a path prefix only: a query, fragment, user info or scheme is refused."""
    with pytest.raises(ConfigError, match="public_url"):
        BearerAuth(_app, make_verifier(), public_url=public_url)
