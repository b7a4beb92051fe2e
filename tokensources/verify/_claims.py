"""Verified claims and scope checks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError, InsufficientScopeError

__all__ = ["Claims", "require_scopes", "scope_list", "scopes_of"]


def scope_list(scopes: Iterable[str] | str) -> tuple[str, ...]:
    """Required scopes as a tuple of distinct scope tokens, in the order given.

    A string is a space-separated list, as in the ``scope`` parameter
    (RFC 6749 §3.3): ``"read:messages write:messages"`` is two scopes, and
    ``"read:messages"`` one (never its characters). Any other iterable
    holds one scope per item; an item may itself be space-separated.

    Raises:
        ConfigError: an item is not a string, or is empty.
    """
    items = [scopes] if isinstance(scopes, str) else scopes
    result: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str) or not item.split():
            raise ConfigError(f"each scope must be a non-empty string, got {item!r}")
        result.update(dict.fromkeys(item.split()))
    return tuple(result)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a token grants, from ``scope``, ``scp`` and ``permissions``.

    ``scope`` is a space-separated string (RFC 8693 §4.2, RFC 9068 §2.2.3);
    ``scp`` is a list of strings (Okta) or a space-separated string (Microsoft
    Entra ID); ``permissions`` is a list of strings (Auth0 RBAC). Values of
    any other shape grant nothing.
    """
    granted: set[str] = set()
    for name in ("scope", "scp", "permissions"):
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(value.split())
        elif isinstance(value, list):
            granted.update(item for item in value if isinstance(item, str) and item)
    return frozenset(granted)


class Claims(Mapping[str, Any]):
    """The claims of a verified access token: a read-only mapping.

    Only a ``JWTVerifier`` makes these after every check passed, so holding a
    ``Claims`` means the token was valid when it was verified. Indexing and
    iteration give the raw claims as the token carried them.

    Attributes:
        scopes: every scope the token grants (see ``require_scopes``).
        subject: the ``sub`` claim, or None when absent or not a string.
    """

    __slots__ = ("_claims", "scopes")

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self._claims: Mapping[str, Any] = MappingProxyType(dict(claims))
        self.scopes: frozenset[str] = scopes_of(self._claims)

    def __getitem__(self, name: str) -> Any:
        return self._claims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim: who the token was issued to (a client id for M2M tokens)."""
        sub = self._claims.get("sub")
        return sub if isinstance(sub, str) else None

    def __repr__(self) -> str:
        return f"Claims(sub={self.subject!r}, scopes={sorted(self.scopes)!r})"


def require_scopes(claims: Mapping[str, Any], *scopes: str) -> None:
    """Check that ``claims`` grant every one of ``scopes``.

    Scopes are compared as whole, case-sensitive words (RFC 6749 §3.3), so
    ``read:messages`` is not granted by ``read:messages:all`` or
    ``READ:MESSAGES``. An argument may hold several space-separated scopes
    (``"read:messages write:messages"``), as everywhere scopes are given.
    Requiring no scope always passes.

    Raises:
        InsufficientScopeError: at least one scope is missing; ``missing``
            lists them in the order they were required.
        ConfigError: a scope is empty or not a string.
    """
    granted = claims.scopes if isinstance(claims, Claims) else scopes_of(claims)
    missing = tuple(scope for scope in scope_list(scopes) if scope not in granted)
    if missing:
        raise InsufficientScopeError(
            f"the token lacks the required scope(s): {' '.join(missing)}", missing=missing
        )
