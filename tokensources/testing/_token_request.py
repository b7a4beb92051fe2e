"""A token request as the grants and client authentication see it, parsed from its body.

The body is a form (RFC 6749 §3.2) or, for the JSON dialects of token
exchange and the JWT-bearer grant (the only grants whose providers speak
one), one JSON object of string values; both give the grants the same
fields. Any other grant in JSON is refused, as a strict server refuses it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from ._asgi import Request
from ._oauth_errors import OAuthError

__all__ = [
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "JSON_GRANT_TYPES",
    "TokenRequest",
    "parse_token_request",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
# The grants that may come as JSON: token exchange (RFC 8693) and JWT bearer (RFC 7523).
JSON_GRANT_TYPES = frozenset(
    {
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    }
)
# RFC 8707 §2: "resource" may be repeated; every other parameter may not (RFC 6749 §3.2).
_REPEATABLE = frozenset({"resource"})
_MAX_FIELDS = 64


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The parts of a token request that matter: headers, form fields and resources.

    Attributes:
        headers: the request headers, names in lower case.
        form: the form fields that have a value, each at most once.
        resources: the ``resource`` values in order (RFC 8707 lets it repeat).
        body: how the fields came: ``"form"`` or ``"json"``.
    """

    headers: Mapping[str, str]
    form: Mapping[str, str] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    body: Literal["form", "json"] = "form"


def parse_token_request(request: Request) -> TokenRequest:
    """Read the fields of a token request: its form (RFC 6749 §3.2) or its JSON object.

    A JSON body must be one object whose values are all strings (a
    ``resource`` may also be a list of strings), for one of the
    ``JSON_GRANT_TYPES``: anything else is refused, never guessed at.

    Raises:
        OAuthError: ``invalid_request`` (405 for a method other than POST) when
            the request is not a form or JSON POST, cannot be decoded, is JSON
            but not an object of strings or not for a JSON grant, or repeats
            a parameter.
    """
    if request.method != "POST":
        raise OAuthError("invalid_request", "the token endpoint accepts POST only", 405)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == JSON_CONTENT_TYPE:
        return _from_json(request)
    if media_type != FORM_CONTENT_TYPE:
        raise OAuthError(
            "invalid_request",
            f"the request body must be {FORM_CONTENT_TYPE} (or {JSON_CONTENT_TYPE})",
        )
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError:
        raise OAuthError("invalid_request", "the form body cannot be decoded") from None
    return _fields(request, pairs, "form")


def _from_json(request: Request) -> TokenRequest:
    """The fields of a JSON token request: one object of strings (``resource`` may be a list)."""
    try:
        document: Any = json.loads(request.body.decode("utf-8"))
    except ValueError:
        raise OAuthError("invalid_request", "the JSON body cannot be decoded") from None
    if not isinstance(document, dict):
        raise OAuthError("invalid_request", "the JSON body must be an object")
    if len(document) > _MAX_FIELDS:
        raise OAuthError("invalid_request", "the JSON body has too many members")
    pairs: list[tuple[str, str]] = []
    for name, value in document.items():
        values = value if name in _REPEATABLE and isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in values):
            # The name is the client's own and short; the value may be a secret.
            raise OAuthError("invalid_request", f"the JSON member {name[:40]!r} must be a string")
        pairs.extend((name, item) for item in values)
    if document.get("grant_type") not in JSON_GRANT_TYPES:
        raise OAuthError(
            "invalid_request",
            f"only token exchange and JWT bearer take a JSON body; use {FORM_CONTENT_TYPE}",
        )
    return _fields(request, pairs, "json")


def _fields(
    request: Request, pairs: Iterable[tuple[str, str]], body: Literal["form", "json"]
) -> TokenRequest:
    """The token request of decoded ``pairs``: empty values omitted, repeats refused."""
    form: dict[str, str] = {}
    resources: list[str] = []
    for name, value in pairs:
        if not value:  # RFC 6749 §3.1: a parameter without a value counts as omitted
            continue
        if name in _REPEATABLE:
            resources.append(value)
        elif name in form:
            raise OAuthError("invalid_request", f"parameter {name!r} is repeated")
        else:
            form[name] = value
    return TokenRequest(request.headers, form, tuple(resources), body)
