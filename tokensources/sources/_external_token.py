"""Turning what an external token service or callable returns into a Token (no I/O).

Token services outside OAuth describe expiry as an instant (``expires_at``:
RFC 3339 text or epoch seconds) rather than the RFC 6749 ``expires_in``
duration; both are accepted, and the instant wins when both are present
because it does not depend on how long the answer took.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._errors import TokenResponseError
from .._redact import excerpt, safe_url
from .._token import Token
from .._wire import (
    MAX_EXPIRES_IN,
    TOKEN_FIELDS,
    RawResponse,
    expires_in_seconds,
    jwt_expiry,
    token_from_fields,
)

__all__ = ["apply_expires_at", "parse_expires_at", "token_from_result"]

# RFC 3339 §5.6 date-time: the separator may be "T", "t" or (§5.6 NOTE) a
# space; the offset is mandatory, so a bare local time is refused.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
_KNOWN_FIELDS = TOKEN_FIELDS | {"expires_at"}


def parse_expires_at(value: object) -> float:
    """Epoch seconds from an RFC 3339 date-time, epoch seconds, or an aware datetime.

    Epoch seconds may be a number or a numeric string.

    Raises:
        ValueError: the value is none of these (the message says why).
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a datetime without a time zone (attach one, e.g. UTC)")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"a {type(value).__name__}, not a date-time or epoch seconds")
    if isinstance(value, str):
        text = value.strip()
        match = _RFC3339.fullmatch(text)
        seconds = _rfc3339_seconds(match) if match else _numeric(text)
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError("not a finite number")
    return seconds


def _numeric(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("neither RFC 3339 (with a UTC offset) nor epoch seconds") from None


def _rfc3339_seconds(match: re.Match[str]) -> float:
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    offset = match.group(8)
    if offset in ("Z", "z"):
        tz = datetime.timezone.utc
    else:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        tz = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
    # RFC 3339 §5.7 allows a leap second (:60); datetime does not, so count it as :59.
    when = datetime.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz)
    return when.timestamp() + fraction


def check_expiry(expires_at: float, now: float) -> str | None:
    """Why ``expires_at`` is unusable at ``now``, or None when it is fine."""
    if expires_at <= now:
        return "already expired"
    if expires_at - now > MAX_EXPIRES_IN:
        # Usually milliseconds taken for seconds: keeping such a token "forever"
        # would be worse than refusing it.
        return "more than ten years away (milliseconds instead of seconds?)"
    return None


def apply_expires_at(token: Token, raw: RawResponse, secrets: Sequence[str] = ()) -> Token:
    """Move a response's ``expires_at`` from ``token.extra`` into ``token.expires_at``.

    Also refuses a token that has already expired by ``raw.sent_at``. The
    error masks every form of ``secrets`` and of what the request carried.

    Raises:
        TokenResponseError: ``expires_at`` is unreadable, past or absurd.
    """
    if "expires_at" not in token.extra:
        if token.expires_at is not None and token.expires_at <= raw.sent_at:
            raise _url_error(raw, "the token has already expired", secrets)
        return token
    value = token.extra["expires_at"]
    unreadable: str | None = None
    try:
        expires_at = parse_expires_at(value)
    except ValueError as exc:
        unreadable = str(exc)
    if unreadable is not None:
        # Raised outside the handler: no __context__ reaching the response.
        what = f"the token response has an unreadable expires_at: {unreadable}"
        raise _url_error(raw, what, secrets)
    problem = check_expiry(expires_at, raw.sent_at)
    if problem:
        raise _url_error(raw, f"the token response's expires_at is {problem}", secrets)
    extra = {k: v for k, v in token.extra.items() if k != "expires_at"}
    return token.replace(expires_at=expires_at, extra=extra)


def _url_error(raw: RawResponse, what: str, secrets: Sequence[str]) -> TokenResponseError:
    url = safe_url(raw.url) if raw.url else None
    return TokenResponseError(
        f"{what}; from {url}",
        status_code=raw.status_code,
        content_type=raw.content_type or None,
        body_excerpt=excerpt(raw.body, (*secrets, *raw.carried)),
        url=url,
    )


def token_from_result(result: object, *, started_at: float, origin: str) -> Token:
    """A Token from what a fetch callable returned: a Token or a token-response mapping.

    A mapping has the fields of a token response: ``access_token``
    (required), ``token_type``, ``expires_at`` (RFC 3339, epoch seconds or an
    aware ``datetime``) or ``expires_in`` (seconds from ``started_at``),
    ``scope`` (a string or a list); other fields go to ``extra``. Without
    either expiry field, a JWT access token's own ``exp`` is used.

    Raises:
        TokenResponseError: anything else, or a token that has already
            expired. Messages name fields and types, never values.
    """
    if isinstance(result, Token):
        token = result
    elif isinstance(result, Mapping):
        token = _token_from_mapping(result, started_at, origin)
    else:
        raise TokenResponseError(
            f"{origin} returned a {type(result).__name__}, not a Token or a mapping"
        )
    if token.expires_at is not None:
        problem = check_expiry(token.expires_at, started_at)
        if problem:
            raise TokenResponseError(f"the token {origin} returned is {problem}")
    return token


def _token_from_mapping(fields: Mapping[Any, Any], started_at: float, origin: str) -> Token:
    access_token = fields.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        names = sorted(str(k) for k in fields)[:20]
        raise TokenResponseError(
            f"{origin} returned a mapping without a string access_token (fields: {names})"
        )
    # Each refusal is raised after its except block, so the lower-level error
    # (whose context may hold the token) is not kept as __context__.
    problem: str | None = None
    try:
        expires_at = _mapping_expiry(fields, started_at)
    except ValueError as exc:
        problem, expires_at = f"an unusable expiry: {exc}", None
    if problem is None:
        if expires_at is None:
            expires_at = jwt_expiry(access_token)
        try:
            return token_from_fields(fields, access_token, expires_at, known=_KNOWN_FIELDS)
        except ValueError as exc:
            problem = f"an unusable token: {exc}"
    raise TokenResponseError(f"{origin} returned {problem}")


def _mapping_expiry(fields: Mapping[Any, Any], started_at: float) -> float | None:
    """``expires_at`` when present, else ``started_at + expires_in``, else None."""
    if fields.get("expires_at") is not None:
        return parse_expires_at(fields["expires_at"])
    seconds = expires_in_seconds(fields.get("expires_in"))
    return None if seconds is None else started_at + seconds
