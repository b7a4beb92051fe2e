"""Claim mappings: extra claims by client, scope or form field, with templates."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import jwt
import pytest

from tokensources import ConfigError
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

DEMO = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


async def claims_of(
    server: AuthorizationServer, http: httpx.AsyncClient, path: str = "/oauth/token", **form: str
) -> dict[str, Any]:
    """The claims of a demo-client token fetched with ``form`` (verified, but for ``aud``)."""
    with anyio.fail_after(10):
        answer = await http.post(path, data={"grant_type": "client_credentials", **form}, auth=DEMO)
    assert answer.status_code == 200, answer.text
    issuer = server.tenant(path.split("/")[1]) if path.count("/") > 2 else server
    token = answer.json()["access_token"]
    aud = jwt.decode(token, options={"verify_signature": False})["aud"]
    issuer.audience = aud if isinstance(aud, str) else aud[0]
    return issuer.verify_access_token(token)


async def test_a_mapping_for_a_client_adds_templated_claims(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """${client_id}, ${scope}, ${grant_type} and ${issuer} are filled in for that client only."""
    server.register_client("other", "other-secret")
    server.map_claims(
        {
            "azp": "${client_id}",
            "ctx": {"granted": "${scope}", "via": ["${grant_type}", "at ${issuer}"]},
            "price": "$$5",
            "level": 3,
        },
        client_id=DEMO_CLIENT_ID,
    )

    mine = await claims_of(server, http, scope="read:messages")
    with anyio.fail_after(10):
        theirs = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("other", "other-secret"),
        )

    assert mine["azp"] == DEMO_CLIENT_ID
    assert mine["ctx"] == {
        "granted": "read:messages",
        "via": ["client_credentials", f"at {server.issuer}"],
    }
    assert (mine["price"], mine["level"]) == ("$5", 3)
    other = server.verify_access_token(theirs.json()["access_token"])
    assert "azp" not in other


async def test_a_mapping_by_scope_applies_only_when_that_scope_is_granted(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A scope condition holds when the token is granted that scope, not otherwise."""
    server.map_claims({"permissions": ["write"]}, scope="write:messages")

    writer = await claims_of(server, http, scope="write:messages")
    reader = await claims_of(server, http, scope="read:messages")

    assert writer["permissions"] == ["write"]
    assert "permissions" not in reader


async def test_a_mapping_by_form_field_reads_that_field(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A form condition matches the field's value; ${form.NAME} reads any non-credential field."""
    server.register_client(
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        audiences=["https://api.example.com", "https://b.example"],
    )
    server.map_claims(
        {"tier": "gold", "for": "${form.audience}"}, form={"audience": "https://b.example"}
    )
    server.map_claims({"region": "${form.region}"})

    matched = await claims_of(server, http, audience="https://b.example", region="eu")
    plain = await claims_of(server, http)

    assert (matched["tier"], matched["for"], matched["region"]) == (
        "gold",
        "https://b.example",
        "eu",
    )
    # No region field: the claim that needs it is left out, not set to "".
    assert "tier" not in plain
    assert "region" not in plain


async def test_later_mappings_override_earlier_ones_and_the_standard_claims(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Mappings apply in order; a mapped sub replaces the standard one (Auth0's id@clients)."""
    server.map_claims({"sub": "first", "gty": "client-credentials"})
    server.map_claims({"sub": "${client_id}@clients"}, client_id=DEMO_CLIENT_ID)

    claims = await claims_of(server, http)

    assert claims["sub"] == f"{DEMO_CLIENT_ID}@clients"
    assert claims["gty"] == "client-credentials"
    assert claims["client_id"] == DEMO_CLIENT_ID


async def test_a_tenants_mappings_are_its_own(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A mapping on a tenant applies to its tokens only; ${tenant} is its name."""
    server.tenant("tenant-a").map_claims({"tid": "${tenant}"})

    at_tenant = await claims_of(server, http, "/tenant-a/oauth/token")
    at_root = await claims_of(server, http)

    assert at_tenant["tid"] == "tenant-a"
    assert "tid" not in at_root


async def test_cleared_mappings_add_nothing(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """clear_claim_mappings removes every mapping of the issuer."""
    server.map_claims({"extra": True})
    server.clear_claim_mappings()

    assert "extra" not in await claims_of(server, http)


@pytest.mark.parametrize(
    ("claims", "conditions", "message"),
    [
        ({"a": "${client_id"}, {}, "not closed"),
        ({"a": "${nope}"}, {}, "unknown variable"),
        ({"a": {"b": ["${form.client_secret}"]}}, {}, "credential"),
        ({"a": "${form.}"}, {}, "unknown variable"),
        ({"a": object()}, {}, "must be JSON"),
        ({}, {}, "non-empty mapping"),
        ({"a": 1}, {"form": {"client_assertion": "x"}}, "credential"),
        ({"a": 1}, {"client_id": ""}, "client_id"),
    ],
    ids=["unclosed", "unknown", "secret", "empty-field", "not-json", "empty", "match-secret", "id"],
)
async def test_a_bad_mapping_is_refused_when_added(
    server: AuthorizationServer, claims: dict[str, Any], conditions: dict[str, Any], message: str
) -> None:
    """A template that cannot be filled in, or a condition on a secret, is refused at once."""
    with pytest.raises(ConfigError, match=message) as caught:
        server.map_claims(claims, **conditions)

    assert "claims" in str(caught.value)
