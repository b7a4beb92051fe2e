"""Exactly one DPoP header (RFC 9449 §4.3): two, or two combined, are refused on both sides."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.clock import FakeClock
from tests.verify.conftest import MakeVerifier
from tokensources import DPoPKey
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.verify import DPoPProofChecker, DPoPProofError, authenticate

pytestmark = pytest.mark.anyio

FORM = {"grant_type": "client_credentials"}


def _proof_headers(proofs: list[str], *, combined: bool) -> list[tuple[str, str]]:
    """The DPoP header lines of a request: one line per proof, or one line holding all."""
    if combined:
        return [("DPoP", ", ".join(proofs))]
    return [("DPoP", proof) for proof in proofs]


@pytest.mark.parametrize("combined", [False, True], ids=["two-lines", "combined"])
async def test_the_testing_token_endpoint_refuses_two_proofs(
    combined: bool, server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Two good proofs on a token request: 400 invalid_dpop_proof; one of them alone: a token."""
    key = DPoPKey.generate(clock=clock)
    proofs = [key.proof("POST", server.token_endpoint) for _ in range(2)]

    refused = await http.post(
        server.token_endpoint,
        data=FORM,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        headers=httpx.Headers(_proof_headers(proofs, combined=combined)),
    )
    issued = await http.post(
        server.token_endpoint,
        data=FORM,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        headers={"DPoP": proofs[1]},
    )

    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")
    assert issued.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("combined", [False, True], ids=["two-lines", "combined"])
async def test_the_testing_api_refuses_two_proofs(
    combined: bool, server: AuthorizationServer, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A DPoP token with two proofs at /api/private: 401 DPoP invalid_dpop_proof."""
    key = DPoPKey.generate(clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})
    url = server.issuer + "/api/private"
    proofs = [key.proof("GET", url, access_token=token) for _ in range(2)]

    refused = await http.get(
        url,
        headers=httpx.Headers(
            [("Authorization", f"DPoP {token}"), *_proof_headers(proofs, combined=combined)]
        ),
    )
    served = await http.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proofs[0]})

    assert refused.status_code == 401
    assert 'error="invalid_dpop_proof"' in refused.headers["www-authenticate"]
    assert served.status_code == 200


@pytest.mark.parametrize("combined", [False, True], ids=["two-lines", "combined"])
async def test_authenticate_refuses_two_proofs_saying_so(
    combined: bool, make_verifier: MakeVerifier, server: AuthorizationServer, clock: FakeClock
) -> None:
    """The verify side: two DPoP header lines, or one line with two proofs, name the rule."""
    key = DPoPKey.generate(clock=clock)
    token = server.issue_token(claims={"cnf": {"jkt": key.thumbprint}})
    proofs = [key.proof("GET", "https://api.test/m", access_token=token) for _ in range(2)]
    headers: list[tuple[bytes, bytes]] = [
        (b"host", b"api.test"),
        (b"authorization", f"DPoP {token}".encode()),
        *((n.lower().encode(), v.encode()) for n, v in _proof_headers(proofs, combined=combined)),
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": "https",
        "method": "GET",
        "path": "/m",
        "headers": headers,
    }

    with pytest.raises(DPoPProofError, match="more than one DPoP header"):
        await authenticate(make_verifier(), scope, dpop=DPoPProofChecker(clock=clock))
