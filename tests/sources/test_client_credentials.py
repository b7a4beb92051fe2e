"""ClientCredentials against the real testing server, in-process and on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from tests.support.clock import FakeClock
from tokensources import (
    AuthStyle,
    ClientCredentials,
    ConfigError,
    Token,
    TokenEndpointError,
    TokenRequestError,
    TokenResponseError,
)
from tokensources.testing import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, AuthorizationServer

pytestmark = pytest.mark.anyio

ISSUER = "http://testserver"
TOKEN_URL = f"{ISSUER}/oauth/token"
WRONG_SECRET = "wr0ng-s3cret-value"


def source(
    http: httpx.AsyncClient, clock: FakeClock, secret: str = DEMO_CLIENT_SECRET, **kwargs: object
) -> ClientCredentials:
    return ClientCredentials(
        TOKEN_URL,
        DEMO_CLIENT_ID,
        secret,
        http=http,
        clock=clock,
        allow_insecure_http=True,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    """The error, its repr and its whole cause chain are free of the secrets."""
    seen: BaseException | None = error
    while seen is not None:
        for secret in secrets:
            assert secret not in str(seen)
            assert secret not in repr(seen)
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize("style", [AuthStyle.HEADER, AuthStyle.BODY, AuthStyle.AUTO])
async def test_each_auth_style_gets_a_token(
    style: AuthStyle, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Every auth style obtains a JWT with the server's lifetime, measured from sending."""
    token = await source(http, clock, auth_style=style).token()
    assert token.token_type == "Bearer"
    assert token.expires_at == clock.now + server.token_lifetime
    assert token.access_token.count(".") == 2
    assert server.counters.token_requests == 1


async def test_scopes_and_audience_reach_the_server(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """Requested scopes and audience come back in the token."""
    server.register_client(
        "api-client",
        "api-secret",
        scopes=("read:messages", "write:messages"),
        audiences=("https://api.example.com", "https://other.example.com"),
    )
    cc = ClientCredentials(
        TOKEN_URL,
        "api-client",
        "api-secret",
        scopes=["read:messages"],
        audience="https://other.example.com",
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    token = await cc.token()
    assert token.scope == "read:messages"
    import jwt

    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["aud"] == "https://other.example.com"
    assert claims["sub"] == "api-client"


async def test_auto_falls_back_to_body_and_remembers(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """AUTO probes BODY after a 401 to HEADER, then goes straight to BODY next time."""
    requests: list[httpx.Request] = []

    async def refuse_basic(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "authorization" in request.headers:
            return httpx.Response(401, json={"error": "invalid_client"})
        form = parse_qs(request.content.decode())
        assert form["client_secret"] == [DEMO_CLIENT_SECRET]
        return httpx.Response(200, json={"access_token": f"t{len(requests)}", "expires_in": 60})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse_basic)) as mock:
        first = source(mock, clock)
        assert (await first.token()).access_token == "t2"
        second = source(mock, clock)
        assert (await second.token()).access_token == "t3"
    assert len(requests) == 3


@pytest.mark.parametrize("status", [500, 503])
async def test_auto_never_probes_after_a_server_error(
    status: int, http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A 5xx is not a reason to try the other auth style: one request, transient error."""
    server.faults.fail_next(1, status=status)
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock).token()
    assert info.value.transient
    assert server.counters.token_requests == 1


async def test_auto_reports_both_answers_when_both_fail(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A wrong secret under AUTO tries both styles and reports both refusals."""
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock, secret=WRONG_SECRET).token()
    error = info.value
    assert error.error == "invalid_client"
    assert error.previous is not None
    assert error.previous.error == "invalid_client"
    assert "header" in str(error)
    assert "body" in str(error)
    assert server.counters.token_requests == 2
    assert_no_secret(error, WRONG_SECRET, DEMO_CLIENT_SECRET)


@pytest.mark.parametrize("style", [AuthStyle.HEADER, AuthStyle.BODY])
async def test_wrong_secret_is_invalid_client(
    style: AuthStyle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A wrong secret raises a definitive TokenEndpointError without the secret in it."""
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock, secret=WRONG_SECRET, auth_style=style).token()
    assert info.value.error == "invalid_client"
    assert info.value.status_code == 401
    assert not info.value.transient
    assert_no_secret(info.value, WRONG_SECRET)


async def test_unknown_client_is_invalid_client(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """An unknown client id is refused as invalid_client."""
    cc = ClientCredentials(
        TOKEN_URL,
        "nobody",
        "whatever-secret",
        auth_style=AuthStyle.BODY,
        http=http,
        clock=clock,
        allow_insecure_http=True,
    )
    with pytest.raises(TokenEndpointError) as info:
        await cc.token()
    assert info.value.error == "invalid_client"
    assert_no_secret(info.value, "whatever-secret")


async def test_unsupported_grant_type(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """grant_type may be overridden through params, and the server's refusal is typed."""
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock, params={"grant_type": "password"}).token()
    assert info.value.error == "unsupported_grant_type"
    assert not info.value.transient
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


async def test_invalid_scope(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """A scope the client may not have is refused as invalid_scope."""
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock, scopes=["admin:everything"]).token()
    assert info.value.error == "invalid_scope"
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


async def test_500_with_html_body(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A 500 HTML page is a transient TokenEndpointError showing a short excerpt."""
    server.faults.fail_next(1, status=500, body="<html><h1>Internal Server Error</h1></html>")
    with pytest.raises(TokenEndpointError) as info:
        await source(http, clock).token()
    assert info.value.status_code == 500
    assert info.value.transient
    assert "Internal Server Error" in str(info.value)
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


@pytest.mark.parametrize(
    ("kind", "error_type", "needle"),
    [
        ("html", TokenResponseError, "text/html"),
        ("no_access_token", TokenResponseError, "no access_token"),
        ("truncated", TokenResponseError, "not JSON"),
        ("huge", TokenResponseError, "read limit"),
        ("error_field", TokenEndpointError, "answered 200"),
    ],
)
async def test_malformed_success_bodies(
    kind: str,
    error_type: type[Exception],
    needle: str,
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    clock: FakeClock,
) -> None:
    """Unusable 200 answers raise the matching typed error, never leaking the secret."""
    server.faults.malformed_next(1, kind)
    with pytest.raises(error_type, match=needle) as info:
        await source(http, clock).token()
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)
    assert len(str(info.value)) < 1000


async def test_dropped_connection_is_a_transient_request_error(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """A connection dropped without an answer raises TokenRequestError."""
    server.faults.drop_next(1)
    with pytest.raises(TokenRequestError) as info:
        await source(http, clock).token()
    assert info.value.transient
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


async def test_connection_refused(clock: FakeClock) -> None:
    """A closed loopback port raises a transient TokenRequestError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cc = ClientCredentials(f"http://127.0.0.1:{port}/oauth/token", "id", "refused-secret")
    async with cc:
        with pytest.raises(TokenRequestError) as info:
            await cc.token()
    assert info.value.transient
    assert_no_secret(info.value, "refused-secret")


async def test_read_timeout_on_loopback(server: AuthorizationServer) -> None:
    """A server slower than the client's read timeout raises TokenRequestError."""
    server.faults.latency = 5.0
    with anyio.fail_after(10):
        async with server.serve() as base_url:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.2)) as http:
                cc = ClientCredentials(
                    f"{base_url}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http
                )
                with pytest.raises(TokenRequestError, match="timed out") as info:
                    await cc.token()
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


async def test_real_loopback_round_trip(server: AuthorizationServer) -> None:
    """Over real HTTP on loopback, the source owns and closes its own client."""
    with anyio.fail_after(10):
        async with server.serve() as base_url:
            async with ClientCredentials(
                f"{base_url}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
            ) as cc:
                token = await cc.token()
                again = await cc.token()
    assert token.access_token != again.access_token
    assert server.counters.token_requests == 2


async def test_borrowed_client_is_not_closed(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """aclose() leaves a client the caller passed in open."""
    cc = source(http, clock)
    await cc.aclose()
    assert not http.is_closed
    assert (await cc.token()).access_token


async def test_from_issuer_discovers_the_token_endpoint(
    http: httpx.AsyncClient, server: AuthorizationServer, clock: FakeClock
) -> None:
    """from_issuer reads the discovery document and uses its token_endpoint."""
    cc = await ClientCredentials.from_issuer(
        ISSUER, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, http=http, clock=clock, allow_insecure_http=True
    )
    assert cc.token_url == TOKEN_URL
    assert (await cc.token()).access_token
    assert server.counters.discovery_requests == 1


def test_plain_http_to_a_remote_host_is_refused() -> None:
    """http:// to a non-loopback host is a ConfigError unless explicitly allowed."""
    with pytest.raises(ConfigError, match="plain http") as info:
        ClientCredentials("http://idp.example.com/oauth/token", "id", "secret-value")
    assert "secret-value" not in str(info.value)
    allowed = ClientCredentials(
        "http://idp.example.com/oauth/token", "id", "secret-value", allow_insecure_http=True
    )
    assert allowed.token_url.startswith("http://")
    for loopback in ("http://127.0.0.1:9/t", "http://localhost/t", "http://[::1]:8/t"):
        assert ClientCredentials(loopback, "id", "secret-value").token_url == loopback


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"token_url": "ftp://x/token"}, "token_url"),
        ({"token_url": "https://user:pw@x/token"}, "credentials"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"params": {"client_secret": "x"}}, "client_secret"),
        ({"params": {"scope": "a"}}, "scopes="),
        ({"params": {"audience": 1}}, "strings"),
        ({"scopes": ["ok", "has space"]}, "scope"),
        ({"audience": "a", "params": {"audience": "b"}}, "audience"),
        ({"auth_style": "header"}, "auth_style"),
        ({"http": "not a client"}, "http"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict[str, object], needle: str) -> None:
    """Each bad argument raises ConfigError naming it and never echoing the secret."""
    args: dict[str, object] = {
        "token_url": "https://idp.example/token",
        "client_id": "id",
        "client_secret": "top-secret-value",
    }
    args.update(kwargs)
    with pytest.raises(ConfigError, match=needle) as info:
        ClientCredentials(**args)  # type: ignore[arg-type]
    assert "top-secret-value" not in str(info.value)


def test_repr_and_identity_hide_the_secret() -> None:
    """repr shows no secret; the identity changes with anything that changes the token."""
    base = ClientCredentials("https://idp.example/token", "id", "top-secret-value", scopes="a b")
    assert "top-secret-value" not in repr(base)
    assert "top-secret-value" not in base.cache_identity
    same = ClientCredentials(
        "https://idp.example/token", "id", "top-secret-value", scopes=["b", "a"]
    )
    assert same.cache_identity == base.cache_identity
    variants = [
        ClientCredentials("https://idp.example/token", "id", "other-secret", scopes="a b"),
        ClientCredentials("https://idp.example/token", "id2", "top-secret-value", scopes="a b"),
        ClientCredentials("https://idp.example/token", "id", "top-secret-value", scopes="a"),
        ClientCredentials(
            "https://idp.example/token", "id", "top-secret-value", scopes="a b", audience="x"
        ),
        ClientCredentials("https://idp.example/t2", "id", "top-secret-value", scopes="a b"),
    ]
    assert len({v.cache_identity for v in variants} | {base.cache_identity}) == 6


def mock_source(
    handler: Callable[[httpx.Request], Awaitable[httpx.Response]],
    clock: FakeClock,
    **kwargs: object,
) -> tuple[ClientCredentials, httpx.AsyncClient]:
    """A ClientCredentials whose token endpoint is ``handler`` (wire-level cases)."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return source(http, clock, **kwargs), http


async def test_expiry_counts_from_sending_not_from_the_answer(clock: FakeClock) -> None:
    """A slow answer does not make the token look fresher: expiry is sent_at + expires_in."""
    sent_at = clock.now

    async def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(30)  # the answer takes 30 s
        return httpx.Response(200, json={"access_token": "t", "expires_in": 300})

    cc, http = mock_source(slow, clock)
    async with http:
        assert (await cc.token()).expires_at == sent_at + 300


async def test_redirects_are_never_followed(clock: FakeClock) -> None:
    """A 307 is an error; the form with the secret is never re-sent elsewhere."""
    seen: list[str] = []

    async def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://evil.example.net/steal"})

    cc, http = mock_source(redirect, clock, auth_style=AuthStyle.BODY)
    async with httpx.AsyncClient(transport=http._transport, follow_redirects=True) as follows:
        cc = source(follows, clock, auth_style=AuthStyle.BODY)
        with pytest.raises(TokenEndpointError) as info:
            await cc.token()
    await http.aclose()
    assert info.value.status_code == 307
    assert seen == [TOKEN_URL]


async def test_corrupt_gzip_body_is_a_response_error(clock: FakeClock) -> None:
    """A body that claims gzip but is not raises TokenResponseError, not zlib.error."""

    async def corrupt(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            stream=httpx.ByteStream(b"this is not gzip at all"),
        )

    cc, http = mock_source(corrupt, clock)
    async with http:
        with pytest.raises(TokenResponseError, match="gzip"):
            await cc.token()


async def test_a_trickling_answer_is_cut_by_the_overall_deadline(clock: FakeClock) -> None:
    """Per-read timeouts cannot be gamed: the whole exchange has a deadline."""

    class Trickle(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                await anyio.sleep(0.01)
                yield b" "

    async def trickle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Trickle())

    cc, http = mock_source(trickle, clock)
    cc._http._deadline = 0.2  # the default is 30 s
    with anyio.fail_after(10):
        async with http:
            with pytest.raises(TokenRequestError, match="timed out"):
                await cc.token()


async def test_request_errors_chain_no_httpx_exception(clock: FakeClock) -> None:
    """httpx's exception (which holds the request and its secrets) is not chained."""

    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    cc, http = mock_source(refuse, clock, auth_style=AuthStyle.BODY)
    async with http:
        with pytest.raises(TokenRequestError) as info:
            await cc.token()
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert info.value.reason == "ConnectError: All connection attempts failed"
    assert "All connection attempts failed" in str(info.value)


@pytest.mark.parametrize("status", [400, 403])
async def test_auto_probes_after_invalid_client_with_any_status(
    status: int, clock: FakeClock
) -> None:
    """invalid_client under 400 or 403 also makes AUTO try the body style."""
    styles: list[str] = []

    async def basic_refused(request: httpx.Request) -> httpx.Response:
        styles.append("header" if "authorization" in request.headers else "body")
        if styles[-1] == "header":
            return httpx.Response(status, json={"error": "invalid_client"})
        return httpx.Response(200, json={"access_token": "t", "expires_in": 60})

    cc, http = mock_source(basic_refused, clock)
    async with http:
        assert (await cc.token()).access_token == "t"
    assert styles == ["header", "body"]


async def test_auto_does_not_probe_after_a_similar_error_name(clock: FakeClock) -> None:
    """invalid_client_id (not invalid_client) under 400 is a plain error: one request."""
    calls: list[httpx.Request] = []

    async def other_error(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": "invalid_client_id"})

    cc, http = mock_source(other_error, clock)
    async with http:
        with pytest.raises(TokenEndpointError):
            await cc.token()
    assert len(calls) == 1


async def test_auto_reports_both_answers_and_learns_nothing_when_the_second_fails(
    clock: FakeClock,
) -> None:
    """401 then 503: both answers are reported, the error is transient, nothing is learned."""
    styles: list[str] = []

    async def refuse_then_fail(request: httpx.Request) -> httpx.Response:
        styles.append("header" if "authorization" in request.headers else "body")
        if styles[-1] == "header":
            return httpx.Response(401, json={"error": "invalid_client"})
        return httpx.Response(503, text="busy")

    cc, http = mock_source(refuse_then_fail, clock)
    async with http:
        with pytest.raises(TokenEndpointError) as info:
            await cc.token()
        with pytest.raises(TokenEndpointError):
            await cc.token()
    assert info.value.status_code == 503
    assert info.value.transient
    assert info.value.previous is not None
    assert info.value.previous.error == "invalid_client"
    assert "503" in str(info.value)
    assert "invalid_client" in str(info.value)
    # Nothing was learned: the second call starts from the header style again.
    assert styles == ["header", "body", "header", "body"]


async def test_auto_keeps_the_refusal_when_the_second_style_cannot_be_sent(
    clock: FakeClock,
) -> None:
    """401, then a network failure: the TokenRequestError carries the first refusal."""

    async def refuse_then_drop(request: httpx.Request) -> httpx.Response:
        if "authorization" in request.headers:
            return httpx.Response(401, json={"error": "invalid_client"})
        raise httpx.ReadError("connection reset", request=request)

    cc, http = mock_source(refuse_then_drop, clock)
    async with http:
        with pytest.raises(TokenRequestError) as info:
            await cc.token()
    assert info.value.previous is not None
    assert info.value.previous.status_code == 401
    assert_no_secret(info.value, DEMO_CLIENT_SECRET)


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.example:99999/token",
        "https://idp.exa\tmple/token",
        "https://",
        "http://[::1",
    ],
)
def test_malformed_urls_are_config_errors(url: str) -> None:
    """A port out of range or an invalid host is refused at construction."""
    with pytest.raises(ConfigError) as info:
        ClientCredentials(url, "id", "top-secret-value")
    assert "top-secret-value" not in str(info.value)
    assert info.value.__context__ is None


# The first loop's connections are abandoned with it (it ended without
# aclose()); their sockets are reported when collected, inside this test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_source_outlives_the_event_loop_that_first_used_it() -> None:
    """A source used from successive event loops (asyncio, then trio) opens a new client."""
    import asyncio
    import gc

    import trio

    server = AuthorizationServer()
    with server.serve_in_thread() as base_url:
        cc = ClientCredentials(f"{base_url}/oauth/token", DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)

        async def fetch_and_close() -> Token:
            async with cc:
                return await cc.token()

        first = asyncio.run(cc.token())
        second = trio.run(fetch_and_close)
        gc.collect()
    assert first.access_token != second.access_token
    assert server.counters.token_requests == 2
