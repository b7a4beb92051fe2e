"""Pure token-request building and token-response parsing (no I/O).

Lenient where providers differ (``expires_in`` as a number or a numeric
string, ``token_type`` in any case, form-encoded bodies), strict where it
matters (no ``access_token``, a 200 carrying ``error``, an HTML page).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import jwt

from ._errors import TokenEndpointError, TokenResponseError
from ._redact import excerpt, safe_url
from ._token import Token

__all__ = [
    "RawResponse",
    "TokenAnswer",
    "basic_authorization",
    "cache_max_age",
    "expires_in_seconds",
    "json_object",
    "judge_token_response",
    "jwt_expiry",
    "parse_retry_after",
    "parse_token_response",
    "token_from_fields",
]

# Ten years: an answer promising more than this is a bug, not a token lifetime.
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
# The token response fields that become Token attributes rather than `extra`.
TOKEN_FIELDS = frozenset({"access_token", "token_type", "expires_in", "scope"})


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What came back from an endpoint, read with a size limit.

    Attributes:
        status_code: the HTTP status.
        content_type: the ``Content-Type`` header, or "" when absent.
        body: the body bytes (possibly cut at the read limit).
        retry_after: the raw ``Retry-After`` header, if any.
        sent_at: wall-clock time just before the request was sent.
        truncated: True when the body was longer than the read limit.
        url: the URL the request went to.
        cache_control: the ``Cache-Control`` header, if any.
        carried: the credentials the request carried in its headers and its
            URL's query (never shown, not even by ``repr``), so that
            everything said about this answer can mask them.
    """

    status_code: int
    content_type: str
    body: bytes
    retry_after: str | None
    sent_at: float
    truncated: bool = False
    url: str = ""
    cache_control: str | None = None
    carried: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """A token endpoint's answer, judged once: the token it holds, or the error it is.

    Exactly one of ``token`` and ``error`` is set.

    Attributes:
        raw: the answer as it came.
        token: the token of a usable 2xx answer.
        error: the ``TokenEndpointError`` or ``TokenResponseError`` it stands for.
    """

    raw: RawResponse
    token: Token | None = None
    error: TokenEndpointError | TokenResponseError | None = None

    @property
    def ok(self) -> bool:
        """Whether the status was 2xx (the body may still be unusable)."""
        return 200 <= self.raw.status_code < 300

    def result(self) -> Token:
        """The token, or raise the error.

        Raises:
            TokenEndpointError: the endpoint answered with an error.
            TokenResponseError: a 2xx answer that is not a usable token.
        """
        if self.error is not None:
            raise self.error
        assert self.token is not None  # noqa: S101 - one of the two is always set
        return self.token


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The HTTP Basic header value for client_secret_basic.

    RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they
    are joined with ``:`` and base64-encoded, so that a ``:`` or a non-ASCII
    character in either survives the trip.
    """
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date).

    Returns None for a missing or unreadable value, and never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def cache_max_age(value: str | None) -> float | None:
    """The ``max-age`` of a ``Cache-Control`` value in seconds (0 for no-store/no-cache).

    Returns None when the header says nothing about freshness.
    """
    if not value:
        return None
    max_age: float | None = None
    for directive in value.lower().split(","):
        name, _, argument = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            try:
                max_age = max(0.0, float(argument.strip().strip('"')))
            except ValueError:
                return None
    return max_age


def parse_token_response(raw: RawResponse, *, secrets: Sequence[str] = ()) -> Token:
    """Turn a token endpoint's answer into a Token or a typed error.

    Expiry is measured from ``raw.sent_at`` — when the request left, not
    when the answer arrived — so a slow answer never makes a token look
    fresher than it is. Every form of ``secrets`` and of the credentials the
    request carried (``raw.carried``) is masked in the error.

    Raises:
        TokenEndpointError: a non-2xx status, or a 2xx carrying ``error``.
        TokenResponseError: a 2xx that is not a usable token response.
    """
    return judge_token_response(raw, secrets=secrets).result()


def judge_token_response(raw: RawResponse, *, secrets: Sequence[str] = ()) -> TokenAnswer:
    """Judge a token endpoint's answer once: the token it holds or the error it is.

    The same rules as ``parse_token_response``, without raising: the caller
    can look at the error (is it ``invalid_client``?) before raising it.
    """
    judged = _token_or_error(raw, (*secrets, *raw.carried))
    if isinstance(judged, Token):
        return TokenAnswer(raw, token=judged)
    return TokenAnswer(raw, error=judged)


def _token_or_error(
    raw: RawResponse, secrets: Sequence[str]
) -> Token | TokenEndpointError | TokenResponseError:
    fields = _decode_body(raw)
    ok = 200 <= raw.status_code < 300
    if not ok or (not raw.truncated and fields is not None and "error" in fields):
        return _endpoint_error(raw, fields, secrets=secrets)
    if raw.truncated:
        return _response_error(raw, "the token response is larger than the read limit", secrets)
    if fields is None:
        media = raw.content_type or "missing"
        what = f"the token response is not JSON (content type {media!r})"
        return _response_error(raw, what, secrets)
    return _token_from(raw, fields, secrets)


def _token_from(
    raw: RawResponse, fields: Mapping[str, Any], secrets: Sequence[str]
) -> Token | TokenResponseError:
    """The token of a decoded 2xx answer, or the reason it is not usable."""
    access_token = fields.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        return _response_error(raw, "the token response has no access_token", secrets, fields)
    problem: str | None = None
    try:
        expires_in = expires_in_seconds(fields.get("expires_in"))
    except ValueError as exc:
        problem = f"the token response's {exc}"
    if problem is not None:
        return _response_error(raw, problem, secrets, fields)
    expires_at = raw.sent_at + expires_in if expires_in is not None else jwt_expiry(access_token)
    try:
        return token_from_fields(fields, access_token, expires_at)
    except ValueError as exc:
        problem = str(exc)
    # Built after the handler, so that it keeps no __context__ reaching the response.
    url = safe_url(raw.url) if raw.url else None
    return TokenResponseError(
        f"the token response from {url} is not usable: {problem}",
        status_code=raw.status_code,
        content_type=raw.content_type,
        url=url,
    )


def token_from_fields(
    fields: Mapping[str, Any],
    access_token: str,
    expires_at: float | None,
    *,
    known: frozenset[str] = TOKEN_FIELDS,
) -> Token:
    """Build a Token from token-response fields whose expiry is already decided.

    ``token_type`` defaults to Bearer, a ``scope`` list is joined with
    spaces, and the fields not in ``known`` go to ``extra``.

    Raises:
        ConfigError: a field is not acceptable (a ``ValueError``).
    """
    token_type = fields.get("token_type")
    scope = fields.get("scope")
    if isinstance(scope, (list, tuple)):
        scope = " ".join(str(s) for s in scope)
    return Token(
        access_token=access_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else None,
        extra={k: v for k, v in fields.items() if k not in known},
    )


def json_object(raw: RawResponse, *, what: str, url: str, secrets: Iterable[str]) -> dict[str, Any]:
    """The body of ``raw`` as a JSON object, for documents that must be one (metadata, answers).

    Args:
        raw: the answer.
        what: how the message names the document, e.g. "the metadata at <url>".
        url: the redacted URL the error carries.
        secrets: values masked in the body excerpt the error carries.

    Raises:
        TokenResponseError: the body is not JSON, or JSON but not an object.
    """
    try:
        document = json.loads(raw.body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        raise TokenResponseError(
            f"{what} is not a JSON object",
            content_type=raw.content_type,
            # What the request carried (a proxy credential, say) is masked.
            body_excerpt=excerpt(raw.body, secrets),
            url=url,
        )
    return document


def _decode_body(raw: RawResponse) -> dict[str, Any] | None:
    """JSON object, or form fields for form/plain bodies (as golang.org/x/oauth2 accepts)."""
    media_type = raw.content_type.split(";", 1)[0].strip().lower()
    if media_type in ("application/x-www-form-urlencoded", "text/plain"):
        try:
            text = raw.body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        form = dict(parse_qsl(text, keep_blank_values=True))
        if form:
            return form
    try:
        data = json.loads(raw.body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def expires_in_seconds(value: Any) -> float | None:
    """An ``expires_in`` value as seconds; None when absent, empty or 0.

    Lenient about form (a number or a numeric string), strict about sense.
    Like golang.org/x/oauth2, 0 means "the server did not say".

    Raises:
        ValueError: not a number, negative, or over ten years (the message
            says which, and never quotes anything but the value itself).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expires_in is a {type(value).__name__}, not a number")
    seconds = math.nan
    with contextlib.suppress(ValueError):
        seconds = float(value)
    if math.isnan(seconds):
        raise ValueError("expires_in is not a number")
    if not 0 <= seconds <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in is out of range ({value!r})")
    return seconds or None


def jwt_expiry(access_token: str) -> float | None:
    """The ``exp`` claim of a JWT access token, read without verification."""
    if access_token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
        return None
    return float(exp)


def _response_error(
    raw: RawResponse,
    what: str,
    secrets: Sequence[str],
    fields: Mapping[str, Any] | None = None,
) -> TokenResponseError:
    url = safe_url(raw.url) if raw.url else None
    if fields is not None:
        # A decoded answer is described by its field names only: a provider
        # may put the token under a name no redaction rule knows.
        body = "fields: " + ", ".join(sorted(str(name) for name in fields)[:20])
    else:
        body = excerpt(raw.body, secrets)
    return TokenResponseError(
        f"{what}; from {url}, status {raw.status_code}, body: {body!r}",
        status_code=raw.status_code,
        content_type=raw.content_type or None,
        body_excerpt=body,
        url=url,
    )


def _endpoint_error(
    raw: RawResponse, fields: Mapping[str, Any] | None, *, secrets: Sequence[str]
) -> TokenEndpointError:
    url = safe_url(raw.url) if raw.url else None
    retry_after = parse_retry_after(raw.retry_after, raw.sent_at)
    error = _text_field(fields, "error", secrets)
    description = _text_field(fields, "error_description", secrets)
    error_uri = _text_field(fields, "error_uri", secrets)
    body = None if error else excerpt(raw.body, secrets)
    what = error or f"HTTP {raw.status_code}"
    message = f"token endpoint {url} answered {raw.status_code} {what}"
    if description:
        message += f": {description}"
    elif body:
        message += f"; body: {body!r}"
    return TokenEndpointError(
        message,
        status_code=raw.status_code,
        error=error,
        error_description=description,
        error_uri=error_uri,
        retry_after=retry_after,
        body_excerpt=body,
        url=url,
    )


def _text_field(fields: Mapping[str, Any] | None, name: str, secrets: Iterable[str]) -> str | None:
    if fields is None:
        return None
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        return None
    return excerpt(value, secrets, limit=300)
