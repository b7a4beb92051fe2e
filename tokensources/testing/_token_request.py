"""A token request as the grants and client authentication see it, parsed from the form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ._asgi import Request
from ._oauth_errors import OAuthError

__all__ = ["FORM_CONTENT_TYPE", "TokenRequest", "parse_token_request"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
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
    """

    headers: Mapping[str, str]
    form: Mapping[str, str] = field(default_factory=dict)
    resources: tuple[str, ...] = ()


def parse_token_request(request: Request) -> TokenRequest:
    """Read the form of a token request (RFC 6749 §3.2).

    Raises:
        OAuthError: ``invalid_request`` (405 for a method other than POST) when
            the request is not a form POST, cannot be decoded, or repeats a
            parameter.
    """
    if request.method != "POST":
        raise OAuthError("invalid_request", "the token endpoint accepts POST only", 405)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {FORM_CONTENT_TYPE}")
    try:
        pairs = parse_qsl(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError:
        raise OAuthError("invalid_request", "the form body cannot be decoded") from None
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
    return TokenRequest(request.headers, form, tuple(resources))
