"""Claims and scope checks."""

from __future__ import annotations

from typing import Any

import pytest

from tokensources import InsufficientScopeError
from tokensources.verify import Claims, require_scopes


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "read:messages write:messages"}, {"read:messages", "write:messages"}),
        ({"scope": "  a   b "}, {"a", "b"}),
        ({"scp": ["a", "b"]}, {"a", "b"}),
        ({"scp": "a b"}, {"a", "b"}),
        ({"permissions": ["read:messages"]}, {"read:messages"}),
        ({"scope": "a", "scp": ["b"], "permissions": ["c"]}, {"a", "b", "c"}),
        ({"scope": 7, "scp": {"a": 1}, "permissions": [1, None, ""]}, set()),
        ({}, set()),
    ],
)
def test_scopes_come_from_scope_scp_and_permissions(
    claims: dict[str, Any], scopes: set[str]
) -> None:
    """scope (string), scp (list or string) and permissions (list) all grant scopes."""
    assert Claims(claims).scopes == scopes


def test_claims_are_read_only() -> None:
    """Claims cannot be changed, and changing the source dict does not change them."""
    source = {"sub": "svc", "scope": "a"}
    claims = Claims(source)
    source["scope"] = "admin"
    assert claims.scopes == {"a"}
    with pytest.raises(TypeError):
        claims["sub"] = "x"  # type: ignore[index]
    assert claims.subject == "svc"
    assert Claims({"sub": 5}).subject is None


def test_require_scopes() -> None:
    """Missing scopes are listed in order; whole words only; nothing required passes."""
    claims = Claims({"scope": "read:messages:all READ:MESSAGES write"})
    require_scopes(claims)
    require_scopes(claims, "write")
    with pytest.raises(InsufficientScopeError, match="read:messages admin") as info:
        require_scopes(claims, "read:messages", "write", "admin", "admin")
    assert info.value.missing == ("read:messages", "admin")


def test_require_scopes_on_a_plain_mapping() -> None:
    """require_scopes also accepts a plain dict of claims."""
    require_scopes({"permissions": ["x"]}, "x")
    with pytest.raises(InsufficientScopeError):
        require_scopes({"permissions": ["x"]}, "y")
