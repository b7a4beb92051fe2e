"""RFC 6750 wire format: reading the Authorization header and answering refusals."""

from __future__ import annotations

import pytest

from tokensources import (
    ConfigError,
    InsufficientScopeError,
    InvalidTokenError,
    TokenRequestError,
)
from tokensources.verify import bearer_token, challenge


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer a-b_c~d+e/f==", "a-b_c~d+e/f=="),
        (["Bearer abc"], "abc"),
    ],
)
def test_bearer_token_accepts_rfc6750_credentials(header: str | list[str], expected: str) -> None:
    """Well-formed Bearer credentials give the token, the scheme in any case."""
    assert bearer_token(header) == expected


@pytest.mark.parametrize(
    ("header", "status", "match"),
    [
        (None, 401, "no Authorization header"),
        ("", 401, "not an auth-scheme"),
        ([], 401, "no Authorization header"),
        ("abc.def.ghi", 401, "not a Bearer credential"),
        ("Basic ZGVtbzpzZWNyZXQ=", 401, "not a Bearer credential"),
        ("Bearer", 400, "not followed by a token"),
        ("Bearer    ", 400, "not followed by a token"),
        ("Bearer abc def", 400, "more than one token"),
        (["Bearer abc", "Bearer def"], 400, "more than one Authorization header"),
        ("Bearer ab!c", 400, "outside b64token"),
        ("Bearer a=b", 400, "outside b64token"),
        ("Bearer " + "a" * (1024 * 1024), 401, "longer than"),
    ],
)
def test_bearer_token_refusals_map_to_rfc6750(
    header: str | list[str] | None, status: int, match: str
) -> None:
    """Missing, foreign, malformed and huge credentials are refused with the right status."""
    with pytest.raises(InvalidTokenError, match=match) as info:
        bearer_token(header)
    assert challenge(info.value).status == status


def test_challenges() -> None:
    """Each kind of refusal gets its RFC 6750 §3 status and WWW-Authenticate header."""
    missing = challenge(_raised(None), realm="api")
    assert missing.status == 401
    assert missing.headers == {"WWW-Authenticate": 'Bearer realm="api"'}
    assert challenge(_raised(None)).headers == {"WWW-Authenticate": "Bearer"}
    invalid = challenge(InvalidTokenError("the token has expired (exp)"), realm="api")
    assert invalid.status == 401
    assert invalid.headers == {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}
    assert invalid.body == {"error": "invalid_token", "message": "Missing or invalid token."}
    assert b"expired" not in invalid.body_bytes()
    scope = challenge(
        InsufficientScopeError("x", missing=("read:messages",)), scopes=["read:messages", "b"]
    )
    assert scope.status == 403
    assert scope.headers == {
        "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="read:messages b"'
    }
    assert (
        challenge(InsufficientScopeError("x", missing=("a", "b")))
        .headers["WWW-Authenticate"]
        .endswith('scope="a b"')
    )
    malformed = challenge(_raised("Bearer a b"))
    assert malformed.status == 400
    assert malformed.headers == {"WWW-Authenticate": 'Bearer error="invalid_request"'}
    down = challenge(TokenRequestError("JWKS unreachable"))
    assert down.status == 503
    assert down.headers == {"Retry-After": "5"}


@pytest.mark.parametrize("realm", ['a"b', "a\\b", "a\nb"])
def test_unsafe_realm_is_refused(realm: str) -> None:
    """A realm that would break the header's quoting is a ConfigError."""
    with pytest.raises(ConfigError, match="realm"):
        challenge(InvalidTokenError("x"), realm=realm)


def _raised(header: str | None) -> InvalidTokenError:
    try:
        bearer_token(header)
    except InvalidTokenError as exc:
        return exc
    raise AssertionError("bearer_token accepted a refused header")
