"""A malformed cnf claim fails closed: the token is refused, never taken as an unbound one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.verify.conftest import MakeVerifier
from tokensources import DPoPKey, InvalidTokenError
from tokensources.testing import AuthorizationServer
from tokensources.verify import BearerAuth, DPoPProofChecker, authenticate, claims_from
from tokensources.verify._certificate_binding import check_certificate_binding
from tokensources.verify._dpop_binding import bound_jkt

pytestmark = pytest.mark.anyio

API = "https://api.test"


def _request(token: str, scheme: str = "Bearer") -> dict[str, Any]:
    headers = [(b"host", b"api.test"), (b"authorization", f"{scheme} {token}".encode())]
    return {"type": "http", "scheme": "https", "method": "GET", "path": "/x", "headers": headers}


MALFORMED = [
    pytest.param("bound", "cnf", id="cnf-a-string"),
    pytest.param(None, "cnf", id="cnf-null"),
    pytest.param(["jkt"], "cnf", id="cnf-a-list"),
    pytest.param({"jkt": 5}, "cnf.jkt", id="jkt-a-number"),
    pytest.param({"jkt": ""}, "cnf.jkt", id="jkt-empty"),
    pytest.param({"jkt": {"kty": "EC"}}, "cnf.jkt", id="jkt-an-object"),
    pytest.param({"x5t#S256": 5}, "cnf.x5t#S256", id="x5t-a-number"),
    pytest.param({"x5t#S256": None}, "cnf.x5t#S256", id="x5t-null"),
]


@pytest.mark.parametrize(("cnf", "named"), MALFORMED)
async def test_a_malformed_cnf_is_refused_as_bearer(
    cnf: Any, named: str, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A token whose cnf (or its member) is not what RFC 7800 says: refused, naming the claim."""
    token = server.issue_token(claims={"cnf": cnf})

    with pytest.raises(InvalidTokenError) as caught:
        await authenticate(make_verifier(), _request(token), dpop=DPoPProofChecker())

    assert f"{named} claim" in str(caught.value)
    assert token not in str(caught.value)


@pytest.mark.parametrize(("cnf", "named"), MALFORMED[:6])
async def test_a_malformed_cnf_is_refused_as_dpop(
    cnf: Any, named: str, make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Presented as DPoP with a good proof of some key: still refused for the claim."""
    token = server.issue_token(claims={"cnf": cnf})
    proof = DPoPKey.generate().proof("GET", API + "/x", access_token=token)
    request = _request(token, "DPoP")
    request["headers"].append((b"dpop", proof.encode()))

    with pytest.raises(InvalidTokenError, match=f"{named} claim"):
        await authenticate(make_verifier(), request, dpop=DPoPProofChecker())


@pytest.mark.parametrize("cnf", [{}, {"kid": "k-1"}], ids=["empty", "other-member"])
async def test_a_cnf_without_a_binding_member_is_an_unbound_token(
    cnf: dict[str, Any], make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """A cnf object that names neither jkt nor x5t#S256 binds to nothing these checks know."""
    token = server.issue_token(claims={"cnf": cnf})

    claims = await authenticate(make_verifier(), _request(token), dpop=DPoPProofChecker())

    assert claims["cnf"] == cnf


def test_both_binding_checks_read_cnf_the_same_way() -> None:
    """One reading of cnf: the DPoP and the certificate check refuse the same malformed claim."""
    for claims in ({"cnf": "x"}, {"cnf": 5}):
        with pytest.raises(InvalidTokenError, match="cnf claim is not a JSON object"):
            bound_jkt(claims)
        with pytest.raises(InvalidTokenError, match="cnf claim is not a JSON object"):
            check_certificate_binding(claims, None)
    assert bound_jkt({"sub": "c"}) is None
    check_certificate_binding({"sub": "c"}, None)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    body = claims_from(scope)["sub"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_bearer_auth_answers_a_malformed_cnf_with_invalid_token(
    make_verifier: MakeVerifier, server: AuthorizationServer
) -> None:
    """Through the middleware: 401 Bearer error="invalid_token", and the app is not called."""
    token = server.issue_token(claims={"cnf": {"jkt": 12}})
    protected = BearerAuth(_app, make_verifier())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=protected), base_url=API
    ) as client:
        answer = await client.get("/x", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
