"""The issuers of one server: the root one and the named ones, found by a request's path.

A named issuer (a tenant) lives under its name as the first path segment:
``/tenant-a/oauth/token``, ``/tenant-a/.well-known/openid-configuration``.
Its discovery document is also found where RFC 8414 §3.1 puts it for an
issuer with a path, ``/.well-known/oauth-authorization-server/tenant-a``
(and, as RFC 8414 §5 allows, ``/.well-known/openid-configuration/tenant-a``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import ConfigError
from ._assembly import IssuerParts
from ._paths import DEBUG_PATH, METADATA_PATHS, first_segment

__all__ = ["IssuerDirectory", "Resolved", "check_tenant_name"]

# RFC 3986 §2.3 unreserved characters, starting with a letter or digit (so no
# ".well-known" or "_debug"), short enough for a path segment people read.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,63}")


def check_tenant_name(name: object, reserved: set[str]) -> str:
    """``name`` if it can name a tenant.

    Raises:
        ConfigError: not a string of 1 to 64 letters, digits, ``.``, ``_``,
            ``~`` or ``-`` starting with a letter or digit, or a segment the
            root issuer's own paths use.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"an issuer name must be 1 to 64 letters, digits, '.', '_', '~' or '-', "
            f"starting with a letter or digit; got {name!r}"
        )
    if name in reserved:
        raise ConfigError(f"the issuer name {name!r} is a path of the server itself")
    return name


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a request goes: the issuer's parts, and the path within that issuer."""

    parts: IssuerParts
    path: str


class IssuerDirectory:
    """The root issuer and its tenants, each created on first use.

    Args:
        root: the root issuer's parts.
        build: makes the parts of a new tenant, given its name.
    """

    def __init__(self, root: IssuerParts, build: Callable[[str], IssuerParts]) -> None:
        self._root = root
        self._build = build
        self._lock = threading.Lock()
        self._tenants: dict[str, IssuerParts] = {}
        self._reserved = root.router.first_segments() | {first_segment(DEBUG_PATH)}

    @property
    def root(self) -> IssuerParts:
        """The root issuer's parts."""
        return self._root

    def tenant(self, name: str) -> tuple[IssuerParts, bool]:
        """The parts of the tenant ``name``, made if new; and whether it was just made.

        Raises:
            ConfigError: ``name`` cannot name a tenant (see ``check_tenant_name``).
        """
        check_tenant_name(name, self._reserved)
        with self._lock:
            found = self._tenants.get(name)
            if found is not None:
                return found, False
            parts = self._tenants[name] = self._build(name)
            return parts, True

    def tenants(self) -> dict[str, IssuerParts]:
        """Every tenant's parts by name, in the order they were made."""
        with self._lock:
            return dict(self._tenants)

    def resolve(self, path: str) -> Resolved:
        """The issuer a request path is for, and the path within it."""
        tenants = self._tenants
        if tenants:
            segment = first_segment(path)
            found = tenants.get(segment)
            if found is not None:
                return Resolved(found, path[len(segment) + 1 :] or "/")
            for document in METADATA_PATHS:  # RFC 8414 §3.1: suffix before the path
                name = path.removeprefix(document + "/")
                if name != path and name in tenants:
                    return Resolved(tenants[name], document)
        return Resolved(self._root, path)
