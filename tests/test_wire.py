"""Wire format: token response parsing and request encoding, without a server."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote_plus

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokensources import TokenEndpointError, TokenResponseError
from tokensources._wire import (
    MAX_EXPIRES_IN,
    RawResponse,
    basic_authorization,
    cache_max_age,
    judge_token_response,
    parse_retry_after,
    parse_token_response,
)

SENT_AT = 1_800_000_000.0
SECRET = "client-s3cret"
URL = "https://idp.example/oauth/token"


def raw(
    body: bytes | dict[str, Any] | str,
    *,
    status: int = 200,
    content_type: str = "application/json",
    retry_after: str | None = None,
    truncated: bool = False,
) -> RawResponse:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return RawResponse(status, content_type, body, retry_after, SENT_AT, truncated, URL)


def test_expiry_is_measured_from_when_the_request_was_sent() -> None:
    """expires_at = sent_at + expires_in, whatever the arrival time."""
    token = parse_token_response(
        raw({"access_token": "a", "token_type": "bearer", "expires_in": 300})
    )
    assert token.expires_at == SENT_AT + 300
    assert token.token_type == "Bearer"


@pytest.mark.parametrize("value", ["300", 300.0, " 300 ", "3e2"])
def test_numeric_strings_are_accepted(value: object) -> None:
    """expires_in given as a numeric string still works."""
    token = parse_token_response(raw({"access_token": "a", "expires_in": value}))
    assert token.expires_at == SENT_AT + 300


@pytest.mark.parametrize(
    "value", [-1, "-5", "soon", [], {}, True, MAX_EXPIRES_IN + 1, "1e400", "nan"]
)
def test_bad_expires_in_is_a_response_error(value: object) -> None:
    """Negative, non-numeric and absurdly large expires_in raise TokenResponseError."""
    with pytest.raises(TokenResponseError, match="expires_in") as info:
        parse_token_response(raw({"access_token": "sekret-token", "expires_in": value}))
    for text in (str(info.value), repr(info.value), info.value.body_excerpt or ""):
        assert "sekret-token" not in text


def test_missing_token_type_defaults_to_bearer() -> None:
    """A response without token_type is a Bearer token, as most providers mean."""
    assert parse_token_response(raw({"access_token": "a"})).token_type == "Bearer"


def test_missing_expiry_falls_back_to_the_jwt_exp_claim() -> None:
    """Without expires_in, a JWT access token's own exp claim is used (unverified)."""
    access = jwt.encode({"exp": SENT_AT + 42}, "k" * 32, algorithm="HS256")
    assert parse_token_response(raw({"access_token": access})).expires_at == SENT_AT + 42


def test_missing_expiry_of_opaque_token_is_unknown() -> None:
    """An opaque token without expires_in has no known expiry (0 means unknown too)."""
    assert parse_token_response(raw({"access_token": "opaque"})).expires_at is None
    assert parse_token_response(raw({"access_token": "o", "expires_in": 0})).expires_at is None


def test_other_fields_land_in_extra() -> None:
    """Unknown fields are kept in extra, scope lists are joined."""
    token = parse_token_response(
        raw({"access_token": "a", "scope": ["x", "y"], "id_token": "i", "ext": 1})
    )
    assert token.scope == "x y"
    assert dict(token.extra) == {"id_token": "i", "ext": 1}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain; charset=utf-8"]
)
def test_form_encoded_bodies_are_accepted(content_type: str) -> None:
    """Form-encoded token responses parse like JSON ones."""
    body = "access_token=abc&token_type=bearer&expires_in=60&scope=a+b"
    token = parse_token_response(raw(body, content_type=content_type))
    assert (token.access_token, token.expires_at, token.scope) == ("abc", SENT_AT + 60, "a b")


def test_html_200_is_a_response_error_with_content_type_and_excerpt() -> None:
    """A 200 HTML page names its content type and shows a short redacted excerpt."""
    page = "<html><body>Login " + "x" * 5000 + "</body></html>"
    with pytest.raises(TokenResponseError) as info:
        parse_token_response(raw(page, content_type="text/html"))
    error = info.value
    assert "text/html" in str(error)
    assert error.content_type == "text/html"
    assert error.body_excerpt is not None
    assert "<html>" in error.body_excerpt
    assert len(error.body_excerpt) < 300


def test_json_without_access_token_is_a_response_error() -> None:
    """A 200 JSON body with no access_token raises TokenResponseError."""
    with pytest.raises(TokenResponseError, match="no access_token"):
        parse_token_response(raw({"token_type": "Bearer", "refresh_token": "rt-leak"}))


def test_json_that_is_not_an_object_is_a_response_error() -> None:
    """A JSON array or string is not a token response."""
    with pytest.raises(TokenResponseError):
        parse_token_response(raw("[1, 2]"))


def test_200_with_error_field_is_an_endpoint_error() -> None:
    """A successful status carrying an OAuth error is treated as that error."""
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw({"error": "invalid_client", "error_description": "nope"}))
    assert info.value.error == "invalid_client"
    assert info.value.status_code == 200
    assert not info.value.transient


def test_oauth_error_document_is_parsed() -> None:
    """RFC 6749 §5.2 errors expose error, description and uri."""
    body = {"error": "invalid_scope", "error_description": "bad scope", "error_uri": "https://e/x"}
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw(body, status=400))
    error = info.value
    assert (error.error, error.error_description, error.error_uri) == (
        "invalid_scope",
        "bad scope",
        "https://e/x",
    )
    assert "invalid_scope" in str(error)


def test_500_with_html_body_is_a_transient_endpoint_error() -> None:
    """A 500 HTML page raises a transient TokenEndpointError with an excerpt."""
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(
            raw("<html>Internal Server Error</html>", status=500, content_type="text/html")
        )
    assert info.value.transient
    assert info.value.error is None
    assert "Internal Server Error" in str(info.value)


@pytest.mark.parametrize(
    ("status", "transient"),
    [(400, False), (401, False), (408, True), (429, True), (502, True), (503, True)],
)
def test_transient_follows_the_status(status: int, transient: bool) -> None:
    """Bare HTTP errors are transient for 408, 429 and 5xx only."""
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw("", status=status, content_type=""))
    assert info.value.transient is transient


def test_definitive_oauth_errors_are_never_transient_even_on_5xx() -> None:
    """invalid_grant stays definitive even under a 503."""
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw({"error": "invalid_grant"}, status=503))
    assert not info.value.transient


def test_retry_after_is_parsed_onto_the_error() -> None:
    """Retry-After in seconds becomes error.retry_after."""
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw("", status=429, retry_after="7"))
    assert info.value.retry_after == 7.0


def test_truncated_2xx_body_is_a_response_error() -> None:
    """A body cut at the read limit is refused, not parsed."""
    with pytest.raises(TokenResponseError, match="read limit"):
        parse_token_response(raw('{"access_token": "abc"', truncated=True))


def test_secrets_never_reach_error_messages() -> None:
    """Error text is scrubbed of tokens, secret fields and the client secret."""
    body = {"error": "invalid_client", "error_description": f"secret {SECRET} is wrong"}
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(raw(body, status=401), secrets=[SECRET])
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert SECRET not in (info.value.error_description or "")
    html = f'<p>{{"access_token": "leaked-token", "client_secret": "{SECRET}"}}</p>'
    with pytest.raises(TokenResponseError) as info2:
        parse_token_response(raw(html, content_type="text/html"))
    assert "leaked-token" not in str(info2.value)
    assert SECRET not in str(info2.value)


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("plain", "secret"), ("id:with:colons", "p@ss:wo rd+/%"), ("ünï", "sécret")],
)
def test_basic_authorization_form_encodes_first(client_id: str, secret: str) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64."""
    value = basic_authorization(client_id, secret)
    assert value.startswith("Basic ")
    decoded = base64.b64decode(value[6:]).decode("ascii")
    encoded_id, encoded_secret = decoded.split(":")
    assert (unquote_plus(encoded_id), unquote_plus(encoded_secret)) == (client_id, secret)


def test_retry_after_as_http_date() -> None:
    """An HTTP-date Retry-After becomes the seconds until that date."""
    when = datetime.fromtimestamp(SENT_AT + 120, tz=timezone.utc)
    assert parse_retry_after(format_datetime(when, usegmt=True), SENT_AT) == pytest.approx(120)


@pytest.mark.parametrize("value", [None, "", "soon", "inf", "Mon, 99 Foo 2020"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    """Values that are neither seconds nor a date are ignored."""
    assert parse_retry_after(value, SENT_AT) is None


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_retry_after_is_never_negative(seconds: float) -> None:
    """Whatever the header says, the wait is a non-negative number."""
    result = parse_retry_after(repr(seconds), SENT_AT)
    assert result is not None
    assert result >= 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("public", None),
        ("max-age=300", 300.0),
        ("public, max-age=60, must-revalidate", 60.0),
        ('max-age="30"', 30.0),
        ("no-store", 0.0),
        ("max-age=300, no-cache", 0.0),
        ("max-age=-5", 0.0),
        ("max-age=soon", None),
    ],
)
def test_cache_max_age(value: str | None, expected: float | None) -> None:
    """Cache-Control freshness is read as seconds; no-store and no-cache mean zero."""
    assert cache_max_age(value) == expected


def test_a_token_under_an_unknown_field_name_is_not_shown() -> None:
    """An unusable 2xx JSON answer is described by its field names, not its values."""
    body = {"token": "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "expires_at": "2030-07-11"}
    with pytest.raises(TokenResponseError) as info:
        parse_token_response(raw(body, status=201))
    assert "ghs_16C7e42F" not in str(info.value)
    assert info.value.body_excerpt == "fields: expires_at, token"


@pytest.mark.parametrize(
    "access_token", ["trailing-space ", "tab\there", "vt\x0b", "del\x7f", "ünïcode"]
)
def test_tokens_that_cannot_be_a_header_value_are_refused(access_token: str) -> None:
    """A token HTTP libraries would refuse as a header value is a TokenResponseError."""
    with pytest.raises(TokenResponseError) as info:
        parse_token_response(raw({"access_token": access_token}))
    assert access_token.strip() not in str(info.value)


def test_judging_an_answer_returns_its_error_without_raising() -> None:
    """judge_token_response gives the error as a value; result() raises that same error."""
    answer = judge_token_response(raw({"error": "invalid_client"}, status=401))
    assert answer.token is None
    assert isinstance(answer.error, TokenEndpointError)
    assert answer.error.error == "invalid_client"
    assert not answer.ok
    with pytest.raises(TokenEndpointError) as info:
        answer.result()
    assert info.value is answer.error
    assert info.value.__context__ is None


def test_judging_a_usable_answer_gives_its_token() -> None:
    """A usable 2xx answer is judged ok with its token and no error."""
    answer = judge_token_response(raw({"access_token": "abc", "expires_in": 60}))
    assert answer.ok
    assert answer.error is None
    assert answer.result().expires_at == SENT_AT + 60


def test_an_unusable_token_keeps_no_context_of_the_value_error() -> None:
    """A token that cannot be a header value is refused with no chained or contextual error."""
    answer = judge_token_response(raw({"access_token": "has space"}))
    assert isinstance(answer.error, TokenResponseError)
    with pytest.raises(TokenResponseError) as info:
        answer.result()
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert "has space" not in str(info.value)


def test_credentials_the_request_carried_are_masked_without_being_named() -> None:
    """Header values the request carried (RawResponse.carried) are masked, encoded or not."""
    carried = ("k3y/value+1", "Basic dXNlcjpwYXNz")
    answer = RawResponse(
        502,
        "text/html",
        b"<pre>X-Api-Key: k3y%2Fvalue%2B1\nAuthorization: Basic dXNlcjpwYXNz</pre>",
        None,
        SENT_AT,
        url=URL,
        carried=carried,
    )
    with pytest.raises(TokenEndpointError) as info:
        parse_token_response(answer)
    assert "k3y%2Fvalue%2B1" not in str(info.value)
    assert "dXNlcjpwYXNz" not in str(info.value)
    assert "carried" not in repr(answer)  # never shown, not even by the response's repr
