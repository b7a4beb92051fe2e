"""External: tokens from a non-OAuth token service (URL mode) or an async callable."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.support.clock import FakeClock
from tokensources import (
    ConfigError,
    Token,
    TokenEndpointError,
    TokenRequestError,
    TokenResponseError,
    TokenSource,
)
from tokensources.sources._external import External
from tokensources.testing import AuthorizationServer
from tokensources.testing._loopback import serve_asgi

pytestmark = pytest.mark.anyio

SERVICE_URL = "https://tokens.example.test/v1/token"
API_KEY = "svc-api-key-0123456789abcdef"
EXPIRES_AT_EPOCH = 1_800_000_000.0 + 1_000  # clock start + 1000 s
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class TokenService:
    """A token service outside OAuth: GET or POST with an API key header, JSON back.

    It hands out real JWTs minted by the testing server and records what it saw.
    """

    def __init__(self, issuer: AuthorizationServer, clock: FakeClock) -> None:
        self.issuer = issuer
        self.clock = clock
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.lifetime = 1000

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((scope["method"], headers, body))
        if headers.get("x-api-key") != API_KEY:
            status, payload = 401, {"message": "unknown API key"}
        else:
            expires_at = datetime.datetime.fromtimestamp(
                self.clock.now + self.lifetime, datetime.timezone.utc
            )
            token = self.issuer.issue_token("svc", lifetime=self.lifetime)
            status, payload = (
                200,
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
                },
            )
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


@pytest.fixture
def service(clock: FakeClock) -> TokenService:
    """The fake token service, minting with a testing server on the fake clock."""
    return TokenService(AuthorizationServer(clock=clock), clock)


@pytest.fixture
async def http(service: TokenService) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the token service in-process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service)) as client:
        yield client


def mock_client(
    body: bytes | str | dict[str, Any], status: int = 200, content_type: str = "application/json"
) -> httpx.AsyncClient:
    """An httpx client whose every request gets the same canned answer (wire-format tests)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    content = body.encode() if isinstance(body, str) else body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def fetch_from(answer: httpx.AsyncClient, clock: FakeClock) -> Token:
    async with answer:
        source = External(SERVICE_URL, headers={"X-Api-Key": API_KEY}, http=answer, clock=clock)
        with anyio.fail_after(10):
            return await source.token()


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    """The error, its repr and attributes are free of the secrets."""
    for text in (str(error), repr(error), repr(vars(error))):
        for secret in secrets:
            assert secret not in text


# URL mode against the token service.


async def test_get_with_api_key_returns_the_services_token(
    http: httpx.AsyncClient, service: TokenService, clock: FakeClock
) -> None:
    """A GET with the API key yields the token, its type and its RFC 3339 expiry."""
    source = External(SERVICE_URL, headers={"X-Api-Key": API_KEY}, http=http, clock=clock)
    assert isinstance(source, TokenSource)
    with anyio.fail_after(10):
        token = await source.token()
    assert token.token_type == "Bearer"
    assert token.expires_at == clock.now + service.lifetime
    assert "expires_at" not in token.extra
    assert service.issuer.verify_access_token(token.access_token)["sub"] == "svc"
    ((method, headers, body),) = service.seen
    assert (method, headers["x-api-key"], headers["accept"], body) == (
        "GET",
        API_KEY,
        "application/json",
        b"",
    )


async def test_post_is_sent_when_asked(
    http: httpx.AsyncClient, service: TokenService, clock: FakeClock
) -> None:
    """method="POST" posts (with an empty body) and a user Accept header replaces the default."""
    source = External(
        SERVICE_URL,
        method="post",
        headers={"X-Api-Key": API_KEY, "Accept": "application/vnd.token+json"},
        http=http,
        clock=clock,
    )
    with anyio.fail_after(10):
        await source.token()
        await source.token()
    assert [(m, h["accept"], b) for m, h, b in service.seen] == [
        ("POST", "application/vnd.token+json", b""),
    ] * 2


async def test_a_refused_api_key_is_an_endpoint_error_without_the_key(
    http: httpx.AsyncClient, service: TokenService, clock: FakeClock
) -> None:
    """A 401 from the service is a definitive TokenEndpointError that never shows the key."""
    wrong = "svc-api-key-WRONG-fedcba9876543210"
    source = External(SERVICE_URL, headers={"X-Api-Key": wrong}, http=http, clock=clock)
    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await source.token()
    assert caught.value.status_code == 401
    assert not caught.value.transient
    assert "unknown API key" in str(caught.value)
    assert_no_secret(caught.value, wrong)


async def test_on_loopback_with_an_owned_client(service: TokenService, clock: FakeClock) -> None:
    """Over real HTTP the source creates its own client and closes it on exit."""
    with anyio.fail_after(10):
        async with serve_asgi(service) as url:
            async with External(
                f"{url}/v1/token", headers={"X-Api-Key": API_KEY}, clock=clock
            ) as source:
                token = await source.token()
    assert token.expires_at == clock.now + service.lifetime
    assert len(service.seen) == 1


# URL mode wire format.


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        pytest.param("2027-01-15T08:00:00Z", 1800000000.0 + 0, id="rfc3339-z"),
        pytest.param("2027-01-15t08:00:00z", 1800000000.0, id="rfc3339-lower"),
        pytest.param("2027-01-15 08:00:00Z", 1800000000.0, id="rfc3339-space"),
        pytest.param("2027-01-15T10:00:00+02:00", 1800000000.0, id="rfc3339-offset"),
        pytest.param("2027-01-15T03:30:00-04:30", 1800000000.0, id="rfc3339-negative-offset"),
        pytest.param("2027-01-15T08:00:00.5Z", 1800000000.5, id="rfc3339-fraction"),
        pytest.param("2027-01-15T08:00:00.250000000Z", 1800000000.25, id="rfc3339-nanoseconds"),
        pytest.param(1800000000, 1800000000.0, id="epoch-int"),
        pytest.param(1800000000.75, 1800000000.75, id="epoch-float"),
        pytest.param("1800000000", 1800000000.0, id="epoch-string"),
    ],
)
async def test_expires_at_formats(expires_at: object, expected: float) -> None:
    """RFC 3339 date-times with any offset or fraction, and epoch seconds, give the instant."""
    clock = FakeClock(1_800_000_000.0 - 600)
    body = {"access_token": "opaque-token", "expires_at": expires_at, "expires_in": 5}
    token = await fetch_from(mock_client(body), clock)
    assert token.expires_at == pytest.approx(expected, abs=1e-6)
    assert "expires_at" not in token.extra


async def test_expires_in_is_measured_from_sending(clock: FakeClock) -> None:
    """Without expires_at, expires_in counts from when the request was sent."""
    token = await fetch_from(mock_client({"access_token": "opaque", "expires_in": "120"}), clock)
    assert token.expires_at == clock.now + 120


async def test_without_expiry_fields_a_jwt_exp_is_used(clock: FakeClock) -> None:
    """With no expiry field, a JWT access token's exp is used; an opaque token has none."""
    exp = int(clock.now) + 300
    access_token = jwt.encode({"exp": exp}, "k" * 32, algorithm="HS256")
    token = await fetch_from(mock_client({"access_token": access_token}), clock)
    assert token.expires_at == exp
    opaque = await fetch_from(mock_client({"access_token": "opaque"}), clock)
    assert opaque.expires_at is None


@pytest.mark.parametrize(
    ("expires_at", "problem"),
    [
        pytest.param("2027-01-15T08:00:00", "unreadable", id="no-offset"),
        pytest.param("tomorrow", "unreadable", id="words"),
        pytest.param("2027-02-30T08:00:00Z", "unreadable", id="no-such-day"),
        pytest.param(True, "unreadable", id="bool"),
        pytest.param([1800000000], "unreadable", id="list"),
        pytest.param("nan", "unreadable", id="nan"),
        pytest.param("2020-01-01T00:00:00Z", "already expired", id="past"),
        pytest.param(1800000000000, "ten years", id="milliseconds"),
    ],
)
async def test_unusable_expires_at_is_a_response_error(
    expires_at: object, problem: str, clock: FakeClock
) -> None:
    """An unreadable, past or absurd expires_at is a TokenResponseError naming the problem."""
    body = {"access_token": "opaque-secret-token", "expires_at": expires_at}
    with pytest.raises(TokenResponseError) as caught:
        await fetch_from(mock_client(body), clock)
    assert problem in str(caught.value)
    assert not caught.value.transient
    assert_no_secret(caught.value, "opaque-secret-token", API_KEY)
    assert caught.value.__context__ is None


async def test_an_expired_jwt_without_expiry_fields_is_refused(clock: FakeClock) -> None:
    """A JWT whose own exp has passed is refused rather than handed out."""
    access_token = jwt.encode({"exp": int(clock.now) - 1}, "k" * 32, algorithm="HS256")
    with pytest.raises(TokenResponseError, match="already expired") as caught:
        await fetch_from(mock_client({"access_token": access_token}), clock)
    assert_no_secret(caught.value, access_token)


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        pytest.param(f"<html>key {API_KEY}</html>", "text/html", "not JSON", id="html"),
        pytest.param(
            {"token": "x", "echo": API_KEY}, "application/json", "no access_token", id="missing"
        ),
        pytest.param(
            {"error": "denied", "echo": API_KEY}, "application/json", "denied", id="error-field"
        ),
        pytest.param(b"x" * (1024 * 1024 + 10), "application/json", "read limit", id="too-large"),
    ],
)
async def test_unusable_answers_are_typed_errors_without_the_key(
    body: Any, content_type: str, problem: str, clock: FakeClock
) -> None:
    """A non-JSON, incomplete, erroneous or oversized answer is a typed error hiding the key."""
    with pytest.raises((TokenResponseError, TokenEndpointError)) as caught:
        await fetch_from(mock_client(body, content_type=content_type), clock)
    assert problem in str(caught.value)
    assert_no_secret(caught.value, API_KEY)


@pytest.mark.parametrize(("status", "transient"), [(503, True), (429, True), (403, False)])
async def test_error_statuses_keep_their_classification(
    status: int, transient: bool, clock: FakeClock
) -> None:
    """A non-200 answer is a TokenEndpointError, transient for 429 and 5xx only."""
    with pytest.raises(TokenEndpointError) as caught:
        await fetch_from(mock_client(f"echo {API_KEY}", status, "text/plain"), clock)
    assert caught.value.status_code == status
    assert caught.value.transient is transient
    assert_no_secret(caught.value, API_KEY)


async def test_a_connection_failure_is_a_transient_request_error(clock: FakeClock) -> None:
    """A transport failure is a TokenRequestError, which retry() retries."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TokenRequestError) as caught:
        await fetch_from(httpx.AsyncClient(transport=httpx.MockTransport(refuse)), clock)
    assert caught.value.transient


async def test_bearer_header_and_query_secrets_are_masked(clock: FakeClock) -> None:
    """An Authorization value (with or without its scheme) and URL query values are masked."""
    api_token = "sk_live_0123456789abcdef"
    query_key = "q-secret-value-987"
    body = f"<p>got Bearer {api_token}; bare {api_token}; query {query_key}</p>"
    async with mock_client(body, content_type="text/html") as answer:
        source = External(
            f"{SERVICE_URL}?key={query_key}",
            headers={"Authorization": f"Bearer {api_token}"},
            http=answer,
            clock=clock,
        )
        with anyio.fail_after(10), pytest.raises(TokenResponseError) as caught:
            await source.token()
    assert_no_secret(caught.value, api_token, query_key)
    assert "[redacted]" in str(caught.value)
    assert api_token not in repr(source)
    assert query_key not in repr(source)


def test_repr_names_header_names_but_not_values() -> None:
    """The repr shows the URL without query, the method and header names only."""
    source = External(f"{SERVICE_URL}?k=hidden-value", headers={"X-Api-Key": API_KEY})
    assert repr(source) == (f"External(url={SERVICE_URL!r}, method='GET', headers=['x-api-key'])")


def test_url_cache_identity_covers_url_method_and_headers() -> None:
    """Same service and headers share an identity; any difference separates them."""
    base = External(SERVICE_URL, headers={"X-Api-Key": API_KEY})
    same = External(SERVICE_URL, headers={"x-api-key": API_KEY})
    others = [
        External(SERVICE_URL, headers={"X-Api-Key": API_KEY + "2"}),
        External(SERVICE_URL, method="POST", headers={"X-Api-Key": API_KEY}),
        External(SERVICE_URL + "?tenant=a", headers={"X-Api-Key": API_KEY}),
        External(SERVICE_URL),
    ]
    assert base.cache_identity == same.cache_identity
    identities = {base.cache_identity, *(o.cache_identity for o in others)}
    assert len(identities) == 1 + len(others)
    assert API_KEY not in base.cache_identity


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        pytest.param({}, "exactly one of url and fetch", id="neither"),
        pytest.param({"url": SERVICE_URL, "fetch": object}, "exactly one", id="both"),
        pytest.param({"url": SERVICE_URL, "method": "PUT"}, "method must be", id="put"),
        pytest.param({"url": "http://tokens.example.test/t"}, "plain http", id="insecure"),
        pytest.param({"url": "ftp://tokens.example.test/t"}, "absolute http", id="ftp"),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f"{API_KEY}\r\nX: y"}},
            "line break",
            id="crlf",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": 42}}, "must be a string", id="not-str"
        ),
        pytest.param({"url": SERVICE_URL, "headers": {"A": "1", "a": "2"}}, "twice", id="dup"),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"Bad:Name": "1"}}, "header name", id="bad-name"
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {f"Authorization: Bearer {API_KEY}": "1"}},
            "header name 'Authorization...'",
            id="header-line-as-name",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X Key": API_KEY}}, "header name", id="space-name"
        ),
        pytest.param({"url": SERVICE_URL, "headers": {"": API_KEY}}, "header name", id="no-name"),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f" {API_KEY}"}},
            "of header 'X-Key' has leading or trailing whitespace",
            id="leading-space",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f"{API_KEY}\t"}},
            "of header 'X-Key' has leading or trailing whitespace",
            id="trailing-tab",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f"{API_KEY}\x01"}},
            "of header 'X-Key' contains a control",
            id="control",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f"{API_KEY}\x7f"}},
            "of header 'X-Key' contains a control",
            id="del",
        ),
        pytest.param(
            {"url": SERVICE_URL, "headers": {"X-Key": f"{API_KEY}\u00e9"}},
            "non-ASCII",
            id="non-ascii",
        ),
        pytest.param({"fetch": "not callable"}, "async callable", id="not-callable"),
        pytest.param(
            {"fetch": object, "headers": {"X-Key": API_KEY}}, "url mode only", id="fetch-headers"
        ),
        pytest.param({"fetch": object, "method": "POST"}, "url mode only", id="fetch-post"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], problem: str) -> None:
    """Each bad argument is a ConfigError naming it, never echoing a header value."""
    with pytest.raises(ConfigError) as caught:
        External(**kwargs)
    assert problem in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_inner_spaces_and_tabs_in_header_values_are_accepted() -> None:
    """Spaces and tabs between visible characters are valid (RFC 9110 §5.5)."""
    source = External(SERVICE_URL, headers={"Authorization": f"Bearer \t{API_KEY}"})
    assert repr(source).endswith("headers=['authorization'])")


def test_http_client_is_url_mode_only() -> None:
    """Passing an httpx client with fetch is refused."""

    async def fetch() -> Token:
        return Token("t")

    client = httpx.AsyncClient()
    with pytest.raises(ConfigError, match="url mode only"):
        External(fetch=fetch, http=client)


# Callable mode.


async def test_fetch_returning_a_token(clock: FakeClock) -> None:
    """A Token from the callable is returned as it is, once per call."""
    issued = Token("from-sdk", expires_at=clock.now + 60)
    calls = 0

    async def fetch() -> Token:
        nonlocal calls
        calls += 1
        return issued

    source = External(fetch=fetch, clock=clock)
    with anyio.fail_after(10):
        assert await source.token() is issued
        assert await source.token() is issued
    assert calls == 2


@pytest.mark.parametrize(
    ("fields", "expires_at"),
    [
        pytest.param({"expires_in": 60}, 1_800_000_060.0, id="expires-in"),
        pytest.param({"expires_in": "60"}, 1_800_000_060.0, id="expires-in-string"),
        pytest.param({"expires_at": "2027-01-15T08:16:40Z"}, EXPIRES_AT_EPOCH, id="rfc3339"),
        pytest.param({"expires_at": EXPIRES_AT_EPOCH}, EXPIRES_AT_EPOCH, id="epoch"),
        pytest.param(
            {
                "expires_at": datetime.datetime.fromtimestamp(
                    EXPIRES_AT_EPOCH, datetime.timezone.utc
                )
            },
            EXPIRES_AT_EPOCH,
            id="datetime",
        ),
        pytest.param(
            {"expires_at": EXPIRES_AT_EPOCH, "expires_in": 5}, EXPIRES_AT_EPOCH, id="both"
        ),
        pytest.param({}, None, id="none"),
    ],
)
async def test_fetch_returning_a_mapping(
    fields: dict[str, Any], expires_at: float | None, clock: FakeClock
) -> None:
    """A mapping becomes a Token; expires_at wins over expires_in, which counts from the call."""

    async def fetch() -> dict[str, Any]:
        return {
            "access_token": "from-sdk",
            "token_type": "bearer",
            "scope": ["read", "write"],
            "tenant": "t1",
            **fields,
        }

    with anyio.fail_after(10):
        token = await External(fetch=fetch, clock=clock).token()
    assert (token.access_token, token.token_type, token.scope) == (
        "from-sdk",
        "Bearer",
        "read write",
    )
    assert token.expires_at == expires_at
    assert dict(token.extra) == {"tenant": "t1"}


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        pytest.param(
            {"token": "secret-value-1"},
            "without a string access_token (fields: ['token'])",
            id="no-access-token",
        ),
        pytest.param({"access_token": ""}, "without a string access_token", id="empty"),
        pytest.param("secret-value-1", "returned a str, not a Token", id="str"),
        pytest.param(None, "returned a NoneType", id="none"),
        pytest.param(
            {"access_token": "secret-value-1", "expires_in": -5}, "out of range", id="negative"
        ),
        pytest.param({"access_token": "secret-value-1", "expires_in": [1]}, "is a list", id="list"),
        pytest.param(
            {"access_token": "secret-value-1", "expires_in": "soon"}, "not a number", id="words"
        ),
        pytest.param(
            {"access_token": "secret-value-1", "expires_at": datetime.datetime(2027, 1, 15)},
            "without a time zone",
            id="naive-datetime",
        ),
        pytest.param(
            {"access_token": "secret-value-1", "expires_at": 1.0}, "already expired", id="expired"
        ),
        pytest.param(
            Token("secret-value-1", expires_at=1.0), "already expired", id="expired-token"
        ),
        pytest.param({"access_token": "secret\nvalue"}, "control character", id="header-injection"),
    ],
)
async def test_fetch_returning_something_unusable(
    result: object, problem: str, clock: FakeClock
) -> None:
    """Anything but a usable Token or mapping is a TokenResponseError that shows no value."""

    async def fetch() -> object:
        return result

    with anyio.fail_after(10), pytest.raises(TokenResponseError) as caught:
        await External(fetch=fetch, clock=clock).token()  # type: ignore[arg-type]
    assert problem in str(caught.value)
    assert not caught.value.transient
    assert_no_secret(caught.value, "secret-value-1", "secret\nvalue")
    # Not even a suppressed lower-level error stays reachable.
    assert caught.value.__context__ is None


async def test_fetch_failures_become_transient_request_errors(clock: FakeClock) -> None:
    """An SDK's own exception becomes a transient TokenRequestError with the original as cause."""
    failure = OSError("network unreachable")

    async def fetch() -> Token:
        raise failure

    with anyio.fail_after(10), pytest.raises(TokenRequestError) as caught:
        await External(fetch=fetch, clock=clock).token()
    assert caught.value.transient
    assert caught.value.__cause__ is failure
    assert "OSError" in str(caught.value)
    assert "fetch_failures_become" in str(caught.value)


async def test_token_source_errors_from_fetch_pass_through(clock: FakeClock) -> None:
    """A TokenSourceError raised by the callable keeps its type and classification."""
    refusal = TokenEndpointError("refused", status_code=400, error="invalid_client")

    async def fetch() -> Token:
        raise refusal

    with anyio.fail_after(10), pytest.raises(TokenEndpointError) as caught:
        await External(fetch=fetch, clock=clock).token()
    assert caught.value is refusal
    assert not caught.value.transient


async def test_a_synchronous_fetch_is_a_config_error(clock: FakeClock) -> None:
    """A plain function is refused with advice, since it would block the event loop."""

    def fetch() -> Token:
        return Token("t")

    with anyio.fail_after(10), pytest.raises(ConfigError, match="not an awaitable"):
        await External(fetch=fetch, clock=clock).token()  # type: ignore[arg-type]


async def test_cancellation_passes_through_untouched(clock: FakeClock) -> None:
    """Cancelling a caller while fetch awaits cancels it, not wrapped in an error."""
    started = anyio.Event()
    outcome: list[bool] = []

    async def fetch() -> Token:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    source = External(fetch=fetch, clock=clock)

    async def caller(scope: anyio.CancelScope) -> None:
        with scope:
            await source.token()
        outcome.append(scope.cancelled_caught)

    scope = anyio.CancelScope()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(caller, scope)
            await started.wait()
            scope.cancel()
    assert outcome == [True]


async def test_fetch_identity_and_repr(clock: FakeClock) -> None:
    """Identity follows the callable (a bound method counts once); repr never shows arguments."""

    class Credential:
        async def get_token(self) -> Token:
            return Token("t")

    async def fetch_with(secret: str) -> Token:
        return Token(secret)

    credential = Credential()
    first = External(fetch=credential.get_token)
    second = External(fetch=credential.get_token)
    other = External(fetch=Credential().get_token)
    assert first.cache_identity == second.cache_identity
    assert first.cache_identity != other.cache_identity
    assert "Credential.get_token" in repr(first)
    hidden = External(fetch=functools.partial(fetch_with, "partial-secret-arg"), clock=clock)
    assert "partial-secret-arg" not in repr(hidden)
    with anyio.fail_after(10):
        assert (await hidden.token()).access_token == "partial-secret-arg"
    await hidden.aclose()
