"""No encoding of a credential a request carried survives in an error about its answer.

An endpoint, or a proxy in front of it, may reflect the request in its error
page: the ``Authorization: Basic`` header (base64 of ``client_id:secret``),
the form (percent-encoded), the whole body base64-encoded as API gateways
log it. Every error built from such an answer — its ``str``, ``repr``,
attributes, traceback and the errors it carries as ``previous`` — shows none
of them, for every source that talks to an endpoint.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import traceback
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, quote_plus, unquote, unquote_plus

import anyio
import httpx
import pytest

from tests.support import signing_keys
from tests.support.clock import FakeClock
from tests.support.echo import SHAPES, ReflectingEndpoint, Shape
from tokensources import (
    AuthStyle,
    ClientCredentials,
    External,
    PrivateKeyJWT,
    TokenEndpointError,
    TokenResponseError,
    TokenSourceError,
)

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://idp.example.test/oauth/token"
CLIENT_ID = "svc:client"
# Characters that percent-encoding, HTML and JSON escaping all change, and a
# length whose base64 differs between the standard and url-safe alphabets.
SECRET = "s3cr/t+v@lue&more=é~Zq"
STATUSES = (401, 502, 200)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def encodings(secret: str, client_id: str = CLIENT_ID) -> list[str]:
    """The forms in which ``secret`` travels: raw, percent-encoded, and Basic's base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    forms = [secret, quote_plus(secret), quote(secret, safe=""), html.escape(secret)]
    for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = alphabet(pair.encode()).decode()
        forms += [encoded, encoded.rstrip("=")]
    return forms


def decodings(text: str, depth: int = 2) -> Iterator[str]:
    """``text`` and what a reader could decode from it (percent, HTML, base64 at any offset).

    Base64 is decoded ``depth`` times: a dump of the request, base64-encoded,
    holds a Basic header, itself base64.
    """
    yield text
    yield unquote_plus(text)
    yield unquote(text)
    yield html.unescape(text)
    for run in _BASE64_RUN.findall(text):
        for start in range(4):
            piece = run[start:].rstrip("=").replace("-", "+").replace("_", "/")
            if len(piece) % 4 == 1:
                piece = piece[:-1]
            try:
                decoded = base64.b64decode(piece + "=" * (-len(piece) % 4))
            except (binascii.Error, ValueError):
                continue
            text_form = decoded.decode("utf-8", "replace")
            if depth > 1:
                yield from decodings(text_form, depth - 1)
            else:
                yield from (text_form, unquote_plus(text_form))


def surfaces(error: BaseException) -> Iterator[str]:
    """Everything of an error a user, a log or a terminal can see, its predecessors included."""
    seen: BaseException | None = error
    while seen is not None:
        yield str(seen)
        yield repr(seen)
        yield str(vars(seen))
        yield "".join(traceback.format_exception(seen))
        previous = getattr(seen, "previous", None)
        seen = previous or seen.__cause__ or seen.__context__


def assert_hidden(error: BaseException, *secrets: str) -> None:
    """No surface of ``error`` shows a secret, in any form, however it is decoded."""
    for surface in surfaces(error):
        for secret in secrets:
            for form in encodings(secret):
                assert form not in surface
            for decoded in decodings(surface):
                assert secret not in decoded


def reflecting_client(
    endpoint: ReflectingEndpoint, **kwargs: object
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """An httpx client wired in-process to ``endpoint``, recording what it sends."""
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=endpoint),
        event_hooks={"request": [record]},
        **kwargs,  # type: ignore[arg-type]
    )
    return client, sent


async def fetch_error(source: ClientCredentials | PrivateKeyJWT | External) -> TokenSourceError:
    with anyio.fail_after(10), pytest.raises(TokenSourceError) as caught:
        await source.token()
    return caught.value


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("style", [AuthStyle.HEADER, AuthStyle.BODY, AuthStyle.AUTO])
async def test_a_reflected_client_secret_is_hidden_in_every_encoding(
    style: AuthStyle, shape: Shape, status: int, clock: FakeClock
) -> None:
    """Basic's base64 pair, the percent-encoded form and the raw secret never reach the error."""
    endpoint = ReflectingEndpoint(status, shape)
    http, _ = reflecting_client(endpoint)
    async with http:
        source = ClientCredentials(
            TOKEN_URL, CLIENT_ID, SECRET, auth_style=style, http=http, clock=clock
        )
        error = await fetch_error(source)
    assert isinstance(error, (TokenEndpointError, TokenResponseError))
    # The pages did carry the credential: what the error hides was there to hide.
    assert any(SECRET in seen for page in endpoint.pages for seen in decodings(page))
    assert_hidden(error, SECRET)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("shape", SHAPES)
async def test_a_reflected_client_assertion_is_hidden_in_every_encoding(
    shape: Shape, status: int, clock: FakeClock
) -> None:
    """The signed assertion, raw or inside a base64-encoded body, never reaches the error."""
    endpoint = ReflectingEndpoint(status, shape)
    http, sent = reflecting_client(endpoint)
    async with http:
        source = PrivateKeyJWT(
            TOKEN_URL, CLIENT_ID, signing_keys.key("p256"), http=http, clock=clock
        )
        error = await fetch_error(source)
    (request,) = sent
    assertion = parse_qs(request.content.decode())["client_assertion"][0]
    signature = assertion.rsplit(".", 1)[1]
    for surface in surfaces(error):
        for decoded in decodings(surface):
            assert assertion not in decoded
            assert signature not in decoded


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("shape", SHAPES)
async def test_reflected_header_and_query_credentials_of_external_are_hidden(
    shape: Shape, status: int, clock: FakeClock
) -> None:
    """External's API key header and a query credential never reach the error, encoded or not."""
    api_key = "k3y/with+plus&amp=Zz9"
    query_secret = "q/s3cret+value=9Yx"
    endpoint = ReflectingEndpoint(status, shape)
    http, _ = reflecting_client(endpoint)
    async with http:
        source = External(
            f"https://tokens.example.test/v1/token?sig={quote(query_secret, safe='')}",
            headers={"X-Api-Key": api_key},
            http=http,
            clock=clock,
        )
        error = await fetch_error(source)
    for secret in (api_key, query_secret):
        assert any(secret in seen for page in endpoint.pages for seen in decodings(page))
    assert_hidden(error, api_key, query_secret)


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_reflected_proxy_credential_of_your_own_client_is_hidden_by_discovery(
    shape: Shape, clock: FakeClock
) -> None:
    """Discovery through your client: its Proxy-Authorization, echoed back, is not shown."""
    proxy_password = "pr0xy-passw/rd+Q"
    basic = base64.b64encode(f"me:{proxy_password}".encode()).decode()
    endpoint = ReflectingEndpoint(200, shape)
    http, _ = reflecting_client(endpoint, headers={"Proxy-Authorization": f"Basic {basic}"})
    async with http:
        with anyio.fail_after(10), pytest.raises(TokenSourceError) as caught:
            await ClientCredentials.from_issuer(
                "https://idp.example.test", CLIENT_ID, SECRET, http=http, clock=clock
            )
    assert any(proxy_password in seen for page in endpoint.pages for seen in decodings(page))
    for surface in surfaces(caught.value):
        assert basic not in surface
        for decoded in decodings(surface):
            assert proxy_password not in decoded
            assert SECRET not in decoded
