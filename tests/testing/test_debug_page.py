"""The /_debug page: what it shows, that it escapes everything, and its mint form."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tokensources import DPoPKey
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
EVIL_ID = '<script>alert("id")</script>'
EVIL_CLAIM = "<img src=x onerror=alert('claim')>"
EVIL_SECRET = "&secret<b>that-never-shows"


async def page(http: httpx.AsyncClient) -> httpx.Response:
    """GET the page, bounded."""
    with anyio.fail_after(10):
        return await http.get("/_debug")


async def mint(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    """POST the mint form, bounded."""
    with anyio.fail_after(10):
        return await http.post("/_debug/mint", data=form)


async def test_the_page_lists_issuers_clients_requests_and_token_claims(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Issuers with their URLs, client ids and methods, requests and issued claims are shown."""
    tenant = server.tenant("tenant-a")
    tenant.register_client("reports", "reports-secret", scopes=["read:reports"])
    with anyio.fail_after(10):
        issued = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=DEMO
        )

    answer = await page(http)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    text = answer.text
    for shown in (server.issuer, tenant.issuer, tenant.token_endpoint, "reports", "read:reports"):
        assert shown in text
    assert "client_secret_basic" in text
    assert "/oauth/token" in text
    token = issued.json()["access_token"]
    assert server.verify_access_token(token)["jti"] in text
    assert token not in text
    assert token.rsplit(".", 1)[1] not in text  # no signature either
    assert "reports-secret" not in text
    assert DEMO_CLIENT_SECRET not in text


async def test_the_page_shows_no_secret(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A client's secret is never on the page, even after it authenticated."""
    server.register_client("svc", EVIL_SECRET)
    with anyio.fail_after(10):
        await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("svc", EVIL_SECRET)
        )

    text = (await page(http)).text

    assert EVIL_SECRET not in text
    assert "secret&lt;b&gt;" not in text
    assert "svc" in text


async def test_everything_shown_is_escaped(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A client id and claims full of markup show as text, and the page forbids scripts."""
    server.register_client(EVIL_ID, "evil-secret")
    server.map_claims({"note": EVIL_CLAIM, EVIL_CLAIM: "key"})
    with anyio.fail_after(10):
        await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(EVIL_ID, "evil-secret"),
        )

    answer = await page(http)

    text = answer.text
    assert EVIL_ID not in text
    assert EVIL_CLAIM not in text
    assert "&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(&#x27;claim&#x27;)&gt;" in text
    assert "<script" not in text.lower()
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # so scripts fall under default-src 'none'
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_the_mint_form_signs_a_token_for_the_chosen_issuer(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A minted token is valid for its issuer, shown once, and logged by its claims."""
    tenant = server.tenant("tenant-a")

    answer = await mint(
        http, issuer="tenant-a", client_id="by-hand", scope="read:messages", lifetime="90"
    )

    assert answer.status_code == 200
    token = answer.text.split('id="minted-token" readonly="readonly">', 1)[1].split("<", 1)[0]
    claims = tenant.verify_access_token(token)
    assert (claims["sub"], claims["scope"], claims["exp"] - claims["iat"]) == (
        "by-hand",
        "read:messages",
        90,
    )
    (entry,) = server.log.requests(endpoint="debug", method="POST")
    assert (entry.issuer, entry.client_id, entry.outcome) == ("tenant-a", "by-hand", "issued")
    assert entry.token_claims is not None
    assert entry.token_claims["jti"] == claims["jti"]
    assert answer.headers["cache-control"] == "no-store"
    assert token not in (await page(http)).text  # shown once, never listed


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"lifetime": "soon"}, "lifetime must be a number of seconds"),
        ({"lifetime": "-1"}, "lifetime must be a number of seconds"),
        ({"issuer": "<i>nope</i>"}, "there is no issuer named &#x27;&lt;i&gt;nope&lt;/i&gt;&#x27;"),
    ],
    ids=["not-a-number", "negative", "unknown-issuer"],
)
async def test_a_bad_mint_form_is_refused_with_an_escaped_reason(
    http: httpx.AsyncClient, form: dict[str, str], message: str
) -> None:
    """A wrong lifetime or issuer answers 400 with the reason, escaped, and mints nothing."""
    answer = await mint(http, **form)

    assert answer.status_code == 400
    assert message in answer.text
    assert 'id="minted-token"' not in answer.text
    assert "<i>nope</i>" not in answer.text


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
    ids=["fetch-metadata", "origin"],
)
async def test_a_mint_from_another_site_is_refused(
    server: AuthorizationServer, headers: dict[str, str]
) -> None:
    """A form posted from another site (a browser says so) mints nothing."""
    async with server.client() as http:
        with anyio.fail_after(10):
            answer = await http.post("/_debug/mint", data={"client_id": "x"}, headers=headers)

    assert answer.status_code == 400
    assert "sent from another site" in answer.text
    assert server.log.issued_tokens() == []


async def test_other_methods_and_paths_under_debug_are_refused(http: httpx.AsyncClient) -> None:
    """GET on the mint path is 405, POST on the page 405, an unknown page 404."""
    with anyio.fail_after(10):
        get_mint = await http.get("/_debug/mint")
        post_page = await http.post("/_debug")
        unknown = await http.get("/_debug/nothing")

    assert (get_mint.status_code, get_mint.headers["allow"]) == (405, "POST")
    assert (post_page.status_code, post_page.headers["allow"]) == (405, "GET")
    assert unknown.status_code == 404


async def test_the_page_shows_what_bound_a_request_to_a_key(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A token request with a DPoP proof shows its key's thumbprint in the binding column."""
    key = DPoPKey.generate(clock=server.clock)
    url = str(http.base_url).rstrip("/") + "/oauth/token"
    with anyio.fail_after(10):
        bound = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=DEMO,
            headers={"DPoP": key.proof("POST", url)},
        )

    text = (await page(http)).text

    assert bound.status_code == 200, bound.text
    assert "<th>binding</th>" in text
    assert f"<td>DPoP {key.thumbprint}</td>" in text
