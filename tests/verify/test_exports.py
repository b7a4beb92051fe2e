"""The public surface of tokensources.verify."""

from __future__ import annotations

import inspect

import tokensources.verify


def test_public_names_are_pinned() -> None:
    """__all__ is sorted, complete, and every class and function has a docstring."""
    names = tokensources.verify.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    assert set(names) == {
        "ASGIApp",
        "BearerAuth",
        "CLAIMS_KEY",
        "Challenge",
        "Claims",
        "InsufficientScopeError",
        "InvalidTokenError",
        "JWTVerifier",
        "authenticate",
        "bearer_token",
        "challenge",
        "claims_from",
        "require_scopes",
    }
    for name in names:
        value = getattr(tokensources.verify, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (getattr(value, "__doc__", None) or "").strip(), name
