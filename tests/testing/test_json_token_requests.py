"""The testing server's token endpoint reads JSON bodies: one object of strings, nothing else."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer
from tokensources.testing._asgi import Request
from tokensources.testing._token_request import parse_token_request

pytestmark = pytest.mark.anyio

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AUTH = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


def _subject(server: AuthorizationServer) -> str:
    return server.workload_issuer.mint_kubernetes(audience=server.issuer)


async def _post_json(http: httpx.AsyncClient, document: Any, **kwargs: Any) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        content=json.dumps(document).encode(),
        headers={"Content-Type": "application/json"},
        **kwargs,
    )


async def test_exchange_and_jwt_bearer_take_json_objects(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A JSON object of the grant's parameters is answered as the same form would be."""
    subject = _subject(server)
    exchange = {"grant_type": EXCHANGE, "subject_token": subject, "subject_token_type": JWT_TYPE}
    answer = (await _post_json(http, exchange, auth=AUTH)).json()
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "system:serviceaccount:default:workload"
    assert answer["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    bearer = {"grant_type": JWT_BEARER, "assertion": subject}
    assert (await _post_json(http, bearer, auth=AUTH)).status_code == 200
    assert server.counters.tokens_issued == 2


async def test_client_credentials_in_the_json_body_authenticate(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """client_id and client_secret as JSON members authenticate like client_secret_post."""
    document = {
        "grant_type": JWT_BEARER,
        "assertion": _subject(server),
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    assert (await _post_json(http, document)).status_code == 200
    document["client_secret"] = "wrong"
    assert (await _post_json(http, document)).json()["error"] == "invalid_client"


async def test_resource_may_be_a_list_of_strings(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """RFC 8707 lets resource repeat: in JSON it is a string or a list of strings."""
    document = {
        "grant_type": EXCHANGE,
        "subject_token": _subject(server),
        "subject_token_type": JWT_TYPE,
        "resource": ["https://not-allowed.example"],
    }
    # Read as a resource (and judged as one): not an allowed target.
    assert (await _post_json(http, document, auth=AUTH)).json()["error"] == "invalid_target"


@pytest.mark.parametrize(
    "document",
    [
        [["grant_type", JWT_BEARER]],
        JWT_BEARER,
        None,
        {"grant_type": JWT_BEARER, "assertion": 42},
        {"grant_type": JWT_BEARER, "assertion": {"value": "x"}},
        {"grant_type": JWT_BEARER, "assertion": ["a", "b"]},
        {"grant_type": [JWT_BEARER]},
        {"grant_type": "client_credentials"},
    ],
    ids=[
        "array",
        "string",
        "null",
        "number",
        "object",
        "list",
        "list-not-resource",
        "not-a-json-grant",
    ],
)
async def test_anything_but_an_object_of_strings_is_invalid_request(
    server: AuthorizationServer, http: httpx.AsyncClient, document: Any
) -> None:
    """A JSON body that is not one object of strings for a JSON grant is refused, never guessed."""
    response = await _post_json(http, document, auth=AUTH)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert server.counters.tokens_issued == 0


async def test_undecodable_json_is_invalid_request(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """A body labelled JSON that is not JSON is invalid_request, and its text is not echoed."""
    response = await http.post(
        "/oauth/token",
        content=b'{"assertion": "eyJ-secret-part',
        headers={"Content-Type": "application/json"},
        auth=AUTH,
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    assert "secret-part" not in response.text


async def test_other_media_types_are_still_refused(
    server: AuthorizationServer, http: httpx.AsyncClient
) -> None:
    """Neither a form nor JSON (text/plain here) is invalid_request."""
    response = await http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        headers={"Content-Type": "text/plain"},
        auth=AUTH,
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_parsed_json_request_says_how_it_came() -> None:
    """The parsed request names its body kind and keeps resources apart, as for a form."""
    document = {"grant_type": JWT_BEARER, "assertion": "a", "resource": ["https://x.example"]}
    request = Request(
        "POST",
        "/oauth/token",
        {"content-type": "application/json; charset=utf-8"},
        json.dumps(document).encode(),
    )
    parsed = parse_token_request(request)
    assert (parsed.body, dict(parsed.form), parsed.resources) == (
        "json",
        {"grant_type": JWT_BEARER, "assertion": "a"},
        ("https://x.example",),
    )
