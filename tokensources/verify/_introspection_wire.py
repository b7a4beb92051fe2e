"""RFC 7662 on the wire: reading an introspection answer and judging it (pure, no I/O).

The request is a form POST of ``token`` (and the hint ``access_token``)
with the resource server's own client authentication. The answer is a JSON
object whose ``active`` member says whether the token is valid (RFC 7662
§2.2); an active answer may carry the token's claims (``scope``,
``client_id``, ``sub``, ``aud``, ``iss``, ``exp``, ``nbf``, ``iat``,
``jti``, ...), and those are checked as a JWT's would be before anything is
accepted. Anything else — another status, a body that is not a JSON object,
an ``active`` that is not a boolean — says nothing about the token and is
an error of the endpoint (answered 503), never an acceptance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidTokenError, TokenEndpointError, TokenResponseError
from .._redact import excerpt, safe_url
from .._wire import RawResponse, json_object, parse_retry_after
from ._claims import Claims
from ._decode import (
    check_audience,
    check_issuer,
    check_required,
    check_string_claims,
    check_times,
    valid_window,
)

__all__ = ["MAX_INTROSPECTION_BYTES", "Answer", "IntrospectionRules", "judge", "read_answer"]

# An introspection answer is a few hundred bytes of claims.
MAX_INTROSPECTION_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class IntrospectionRules:
    """What an active answer must say, and how long answers are kept.

    Attributes:
        issuer: the ``iss`` an answer that has one must carry; None: not checked.
        audience: the audiences of which ``aud`` must name one; None: not checked.
        required: claims the answer must carry, not null.
        leeway: seconds of clock skew forgiven on ``exp``, ``nbf``, ``iat``.
        max_age: seconds an active answer is kept (never past the token's ``exp``).
        inactive_max_age: seconds a refusal is kept.
    """

    issuer: str | None
    audience: tuple[str, ...] | None
    required: tuple[str, ...]
    leeway: float
    max_age: float
    inactive_max_age: float


@dataclass(frozen=True, slots=True)
class Answer:
    """The verdict on one token: its claims, or why it is refused, and how long that holds.

    Attributes:
        claims: the verified claims, or None for a refused token.
        reason: why the token is refused ("" when it is not).
        valid_from: the first instant the verdict may be served.
        until: the first instant it may no longer be served.
    """

    claims: Claims | None
    reason: str
    valid_from: float
    until: float

    def result(self) -> Claims:
        """The claims of an accepted token.

        Raises:
            InvalidTokenError: the token is refused; the message says why.
        """
        if self.claims is None:
            raise InvalidTokenError(self.reason)
        return self.claims


def read_answer(raw: RawResponse, *, secrets: tuple[str, ...]) -> dict[str, Any]:
    """The members of a usable introspection answer (a JSON object with a boolean ``active``).

    Args:
        raw: the answer.
        secrets: what the request carried (the token, the client secret),
            masked in everything said about the answer.

    Raises:
        TokenEndpointError: the status is not 200 (the endpoint is down,
            refuses the resource server's credentials, ...).
        TokenResponseError: a 200 that is too large, not a JSON object, or
            has no boolean ``active``.
    """
    where = safe_url(raw.url)
    masked = (*secrets, *raw.carried)
    if raw.status_code != 200:
        raise TokenEndpointError(
            f"the introspection endpoint {where} answered {raw.status_code}",
            status_code=raw.status_code,
            error=_oauth_error(raw.body),
            retry_after=parse_retry_after(raw.retry_after, raw.sent_at),
            body_excerpt=excerpt(raw.body, masked),
            url=where,
        )
    if raw.truncated:
        raise TokenResponseError(
            f"the introspection answer from {where} is larger than {MAX_INTROSPECTION_BYTES} bytes",
            url=where,
        )
    fields = json_object(
        raw, what=f"the introspection answer from {where}", url=where, secrets=masked
    )
    # RFC 7662 §2.2: "active" is REQUIRED and a boolean; "true" as a string is not one.
    if not isinstance(fields.get("active"), bool):
        raise TokenResponseError(
            f"the introspection answer from {where} has no boolean 'active' member", url=where
        )
    return fields


def judge(fields: Mapping[str, Any], rules: IntrospectionRules, now: float) -> Answer:
    """The verdict on an answer read by ``read_answer``, at ``now``."""
    refused_until = now + rules.inactive_max_age
    if fields["active"] is not True:
        reason = "the authorization server says the token is not active"
        return Answer(None, reason, now, refused_until)
    try:
        check_required(fields, rules.required)
        # RFC 7662 §2.2: iss is optional; the endpoint speaks for its issuer.
        if rules.issuer is not None and "iss" in fields:
            check_issuer(fields, rules.issuer)
        # RFC 7662 §4 and RFC 8707: a token for another resource is refused,
        # and so is one whose audience the answer does not say.
        if rules.audience is not None:
            check_required(fields, ("aud",))
            check_audience(fields, rules.audience)
        check_string_claims(fields)
        check_times(fields, now, rules.leeway)
    except InvalidTokenError as exc:
        return Answer(None, str(exc), now, refused_until)
    start, end = valid_window(fields, rules.leeway)
    return Answer(Claims(fields), "", start, min(end, now + rules.max_age))


def _oauth_error(body: bytes) -> str | None:
    """The RFC 6749 §5.2 ``error`` code of an error body, if it has a plausible one."""
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = fields.get("error") if isinstance(fields, dict) else None
    # An error code is a short ASCII word (RFC 6749 §5.2); anything else is not shown.
    if isinstance(error, str) and len(error) <= 64 and error.isascii() and error.isprintable():
        return error
    return None
