"""Verified claims and scope checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError, InsufficientScopeError

__all__ = [
    "Claims",
    "ScopeLists",
    "check_granted",
    "require_scopes",
    "scope_list",
    "scopes_of",
    "split_scope",
]


# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), tokens separated by SP.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# Routes require a handful of distinct scope lists; more than this is not a route table.
_MAX_REMEMBERED_SCOPE_LISTS = 64


def split_scope(value: str) -> list[str]:
    """The scope tokens of a space-separated scope string, in order.

    RFC 6749 §3.3 separates scopes by SP (0x20) alone: any other white
    space (a tab, a no-break space U+00A0, a line break) belongs to the
    token it is in: ``admin``, U+00A0, ``read:messages`` is one scope,
    never ``read:messages``. Runs of spaces and spaces at either end are
    forgiven.
    """
    return [part for part in value.split(" ") if part]


def scope_list(scopes: Iterable[str] | str) -> tuple[str, ...]:
    """Required scopes as a tuple of distinct scope tokens, in the order given.

    A string is a space-separated list, as in the ``scope`` parameter
    (RFC 6749 §3.3): ``"read:messages write:messages"`` is two scopes, and
    ``"read:messages"`` one (never its characters). Any other iterable
    holds one scope per item; an item may itself be space-separated. Only
    SP separates scopes (see ``split_scope``).

    Raises:
        ConfigError: an item is not a string, is empty, or holds a
            character RFC 6749 §3.3 does not allow in a scope (other white
            space, a control character, ``"``, ``\\``, non-ASCII).
    """
    items = [scopes] if isinstance(scopes, str) else scopes
    result: dict[str, None] = {}
    for item in items:
        parts = split_scope(item) if isinstance(item, str) else []
        if not parts:
            raise ConfigError(f"each scope must be a non-empty string, got {item!r}")
        for part in parts:
            if not _SCOPE_TOKEN.fullmatch(part):
                raise ConfigError(
                    f"scope {part!r} has a character a scope may not hold (RFC 6749 §3.3: "
                    "printable ASCII except '\"' and '\\'; scopes are separated by single spaces)"
                )
        result.update(dict.fromkeys(parts))
    return tuple(result)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a token grants, from ``scope``, ``scp`` and ``permissions``.

    ``scope`` is a space-separated string (RFC 8693 §4.2, RFC 9068 §2.2.3);
    ``scp`` is a list of strings (Okta) or a space-separated string (Microsoft
    Entra ID); ``permissions`` is a list of strings (Auth0 RBAC). Strings are
    split on SP only (see ``split_scope``); list items are taken whole.
    Values of any other shape grant nothing.
    """
    granted: set[str] = set()
    for name in ("scope", "scp", "permissions"):
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(split_scope(value))
        elif isinstance(value, list):
            granted.update(item for item in value if isinstance(item, str) and item)
    return frozenset(granted)


class Claims(Mapping[str, Any]):
    """The claims of a verified access token: a read-only mapping.

    Only a verifier (``JWTVerifier``, ``Introspection``) makes these after
    every check passed, so holding a ``Claims`` means the token was valid
    when it was verified. For an introspected token they are the members of
    the introspection answer (RFC 7662 §2.2), ``active`` included. Indexing and
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
    ``READ:MESSAGES``, nor by ``admin`` and ``read:messages`` joined by a
    no-break space (only SP separates scopes). An argument may hold several space-separated scopes
    (``"read:messages write:messages"``), as everywhere scopes are given.
    Requiring no scope always passes.

    Raises:
        InsufficientScopeError: at least one scope is missing; ``missing``
            lists them in the order they were required.
        ConfigError: a scope is empty, not a string, or holds a character
            a scope may not hold (see ``scope_list``).
    """
    check_granted(claims, scope_list(scopes))


def check_granted(claims: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """``require_scopes`` for scopes already checked by ``scope_list``: a set lookup each.

    Raises:
        InsufficientScopeError: at least one of ``required`` is missing.
    """
    if not required:
        return
    granted = claims.scopes if isinstance(claims, Claims) else scopes_of(claims)
    missing = tuple(scope for scope in required if scope not in granted)
    if missing:
        raise InsufficientScopeError(
            f"the token lacks the required scope(s): {' '.join(missing)}", missing=missing
        )


class ScopeLists:
    """``scope_list`` that parses each hashable argument once (a route's scopes, every call).

    A verifier asks for the same few scope lists on every request; this keeps
    the parsed tuples of the last few dozen, so checking them is a dictionary
    lookup. Other arguments (a list, an iterator) are parsed every time.
    Safe from any thread: a lost update only costs a parse.
    """

    __slots__ = ("_parsed",)

    def __init__(self) -> None:
        self._parsed: dict[object, tuple[str, ...]] = {}

    def __call__(self, scopes: Iterable[str] | str) -> tuple[str, ...]:
        """The scopes as ``scope_list`` returns them.

        Raises:
            ConfigError: as ``scope_list``.
        """
        # Only values compared by content: an iterator is hashable too, by identity.
        if type(scopes) is not str and type(scopes) is not tuple:
            return scope_list(scopes)
        parsed_lists = self._parsed
        try:
            return parsed_lists[scopes]
        except (KeyError, TypeError):
            pass
        parsed = scope_list(scopes)
        if len(parsed_lists) >= _MAX_REMEMBERED_SCOPE_LISTS:
            parsed_lists.clear()
        # Hashable now: scope_list accepted only strings in it.
        parsed_lists[scopes] = parsed
        return parsed
